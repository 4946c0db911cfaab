using System.Text.Json.Nodes;

namespace Loyalty.Sandbox;

/// <summary>The shop's details and its paid orders, as the missed-order sweep reads them.</summary>
public sealed partial class ShopifySimulator
{
    /// <param name="Shop">The shop it belongs to; null: every shop's (a test with one shop).</param>
    private sealed record PaidOrder(long Id, DateTimeOffset UpdatedAt, object Node, string? Shop);

    private object ShopDetails(string shop, JsonObject v)
    {
        return new { shop = new { name = shop.Split('.')[0], currencyCode = "EUR", ianaTimezone = "Europe/Berlin" } };
    }

    /// <summary>
    /// A paid order the missed-order sweep will find (as if its webhook never arrived), last updated at
    /// <paramref name="updatedAt"/> (now by default), with the discount codes it used; of <paramref name="shop"/> only, or of every shop.
    /// </summary>
    public void AddPaidOrder(long id, long? customerId, decimal subtotal, decimal total, string currency = "EUR", DateTimeOffset? updatedAt = null,
        IReadOnlyList<string>? discountCodes = null, decimal discountAmount = 0m, string? shop = null)
    {
        string M(decimal v) => v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
        var at = updatedAt ?? DateTimeOffset.UtcNow;
        lock (_gate)
        {
            if (!_paidOrders.TryGetValue(shop ?? "", out var list)) _paidOrders[shop ?? ""] = list = [];
            list.Add(new PaidOrder(id, at, new
            {
                legacyResourceId = id.ToString(System.Globalization.CultureInfo.InvariantCulture), name = $"#{id}", test = false,
                cancelledAt = (string?)null,
                updatedAt = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                processedAt = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                createdAt = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                discountCodes = discountCodes ?? [],
                transactions = new[] { new { kind = "SALE", status = "SUCCESS",
                    processedAt = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture) } },
                customer = customerId is null ? null : new { legacyResourceId = customerId.Value.ToString(
                    System.Globalization.CultureInfo.InvariantCulture) },
                subtotalPriceSet = new { shopMoney = new { amount = M(subtotal), currencyCode = currency } },
                totalPriceSet = new { shopMoney = new { amount = M(total), currencyCode = currency },
                    presentmentMoney = new { amount = M(total), currencyCode = currency } },
                totalDiscountsSet = new { shopMoney = new { amount = M(discountAmount), currencyCode = currency } },
            }, shop));
        }
    }

    /// <summary>
    /// <c>orders(first, after, query, sortKey: UPDATED_AT)</c> as Shopify answers it: the <c>updated_at:&gt;'…'</c> term of
    /// the search is honoured, <c>&gt;=</c> too (the financial status terms are, trivially: every order here is paid), oldest update first,
    /// <c>first</c> per page, the cursor naming the last order of the page.
    /// </summary>
    private object OrdersPage(string shop, JsonObject v)
    {
        var query = v["query"]?.GetValue<string>() ?? "";
        var match = System.Text.RegularExpressions.Regex.Match(query, @"updated_at:(>=?)'([^']+)'");
        var since = match.Success ? DateTimeOffset.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture)
            : DateTimeOffset.MinValue;
        var inclusive = match.Success && match.Groups[1].Value == ">=";
        var first = v["first"]?.GetValue<int>() ?? 50;
        // Shopify's search compares whole seconds.
        var ordered = _paidOrders.GetValueOrDefault(shop, []).Concat(_paidOrders.GetValueOrDefault("", []))
            .Where(o => inclusive ? o.UpdatedAt.ToUnixTimeSeconds() >= since.ToUnixTimeSeconds()
            : o.UpdatedAt.ToUnixTimeSeconds() > since.ToUnixTimeSeconds())
            .OrderBy(o => o.UpdatedAt).ThenBy(o => o.Id).ToList();
        var after = v["after"]?.GetValue<string>();
        var start = after is null ? 0 : ordered.FindIndex(o => o.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) == after) + 1;
        var page = ordered.Skip(start).Take(first).ToList();
        var hasNext = start + page.Count < ordered.Count;
        return new
        {
            orders = new
            {
                pageInfo = new { hasNextPage = hasNext, endCursor = page.Count > 0
                    ? page[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null },
                nodes = page.Select(o => o.Node).ToArray(),
            },
        };
    }
}
