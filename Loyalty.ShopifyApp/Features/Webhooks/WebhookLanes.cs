namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// How a claimed batch is worked on at once without reordering what must stay in order: deliveries about the same
/// customer or the same order (an award and its refund, a customer's awards and clawbacks, which a floor at zero makes
/// order-dependent) share a lane and run one after another in arrival order; a delivery about neither (an uninstall, a
/// shop redaction) puts every delivery of its shop in the batch into one lane. Lanes run in parallel.
/// </summary>
public static class WebhookLanes
{
    public static List<List<WebhookDelivery>> Group(IEnumerable<WebhookDelivery> claimed)
    {
        var ordered = claimed.OrderBy(d => d.Id).ToList();
        var parent = Enumerable.Range(0, ordered.Count).ToArray();
        var firstWithKey = new Dictionary<string, int>(StringComparer.Ordinal);
        var shopWide = ordered.Where(d => d.CustomerId is null && d.OrderId is null).Select(d => d.ShopDomain).ToHashSet(StringComparer.Ordinal);

        for (var i = 0; i < ordered.Count; i++)
        {
            var d = ordered[i];
            if (shopWide.Contains(d.ShopDomain)) Join(i, $"shop\n{d.ShopDomain}");
            if (d.CustomerId is { } customer) Join(i, $"customer\n{d.ShopDomain}\n{customer}");
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
