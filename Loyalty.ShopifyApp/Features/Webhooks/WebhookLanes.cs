namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// How a claimed batch is worked on at once without reordering what must stay in order: deliveries about the same
/// customer or the same order (an award and its refund, a customer's awards and clawbacks, which a floor at zero makes
/// order-dependent) share a lane and run one after another in arrival order; a delivery about neither (an uninstall, a
/// shop redaction) puts every delivery of its shop in the batch into one lane. A refund names only its order: its customer
/// is the one the order was awarded to (<c>customerOfOrder</c>), and a refund whose order the app has not seen
/// yet, whose customer is unknown, keeps its shop's batch in one lane too. Lanes run in parallel.
/// </summary>
public static class WebhookLanes
{
    /// <param name="customerOfOrder">
    /// For a delivery that names an order but no customer: the order's customer as the app recorded it (found, with a null
    /// customer for a guest's or an erased customer's order), or not found.
    /// </param>
    public static List<List<WebhookDelivery>> Group(IEnumerable<WebhookDelivery> claimed,
        IReadOnlyDictionary<(string Shop, long Order), long?>? customerOfOrder = null)
    {
        customerOfOrder ??= new Dictionary<(string, long), long?>();
        var ordered = claimed.OrderBy(d => d.Id).ToList();
        var parent = Enumerable.Range(0, ordered.Count).ToArray();
        var firstWithKey = new Dictionary<string, int>(StringComparer.Ordinal);
        var shopWide = ordered.Where(d => d.CustomerId is null && (d.OrderId is not { } o || !customerOfOrder.ContainsKey((d.ShopDomain, o))))
            .Select(d => d.ShopDomain).ToHashSet(StringComparer.Ordinal);

        for (var i = 0; i < ordered.Count; i++)
        {
            var d = ordered[i];
            if (shopWide.Contains(d.ShopDomain)) Join(i, $"shop\n{d.ShopDomain}");
            var customer = d.CustomerId ?? (d.OrderId is { } named && customerOfOrder.TryGetValue((d.ShopDomain, named), out var owner) ? owner
                : null);
            if (customer is not null) Join(i, $"customer\n{d.ShopDomain}\n{customer}");
            if (d.OrderId is { } order) Join(i, $"order\n{d.ShopDomain}\n{order}");
        }
        return [.. ordered.Select((d, i) => (Delivery: d, Lane: Root(i))).GroupBy(x => x.Lane).Select(g => g.Select(x => x.Delivery).ToList())];

        void Join(int i, string key)
        {
            if (!firstWithKey.TryAdd(key, i)) Union(i, firstWithKey[key]);
        }

        void Union(int a, int b)
        {
            (a, b) = (Root(a), Root(b));
            if (a != b) parent[Math.Max(a, b)] = Math.Min(a, b);
        }

        int Root(int i)
        {
            while (parent[i] != i) i = parent[i] = parent[parent[i]];
            return i;
        }
    }
}
