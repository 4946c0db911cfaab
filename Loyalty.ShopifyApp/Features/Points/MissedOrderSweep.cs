using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.PosSync;
using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// Shopify warns that webhooks can be missed. This job (one per shop, see <c>MissedOrderSweep.FanOut.cs</c>) reads a shop's orders that were
/// paid and updated since its last sweep (GraphQL, paged, throttle-aware through the client) and awards any
/// that never arrived, through the same idempotent path as <c>orders/paid</c>, so a dropped webhook costs a
/// customer at most one sweep interval. It also marks the loyalty coupons those orders used (a cancellation must not
/// give back the points of a coupon an order used). Orders come oldest update first, and the watermark only moves as
/// far as the orders read: a sweep stopped by <c>MaxPages</c> resumes where it stopped.
/// </summary>
public sealed partial class MissedOrderSweep(
    NpgsqlDataSource db,
    ShopifyGraphQLClient shopify,
    PosSyncTrigger posSync,
    IOptions<OrderSweepOptions> options,
    ShopFanOut fanOut,
    TimeProvider clock,
    ProgramClock programClock,
    ILogger<MissedOrderSweep> logger)
{
    public const string RecurringId = "missed-orders-sweep";

    private const string Query = """
        query PaidOrders($query: String!, $first: Int!, $after: String) {
          orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
            pageInfo { hasNextPage endCursor }
            nodes {
              legacyResourceId name test cancelledAt createdAt processedAt updatedAt discountCodes
              transactions(first: 5) { kind status processedAt }
              customer { legacyResourceId }
              subtotalPriceSet { shopMoney { amount currencyCode } }
              totalPriceSet { shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }
              totalDiscountsSet { shopMoney { amount } }
            }
          }
        }
        """;

    /// <summary>Awards the shop's paid orders updated since the last sweep that were never awarded. Returns how many it awarded.</summary>
    public async Task<int> SweepShopAsync(string shop, CancellationToken ct)
    {
        var until = clock.GetUtcNow();
        DateTimeOffset since;
        DateTimeOffset? resumeFrom;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            (since, resumeFrom) = await conn.QuerySingleAsync<(DateTimeOffset, DateTimeOffset?)>(new CommandDefinition("""
                SELECT coalesce(w.swept_until, s.installed_at), w.resume_from
                FROM shops s LEFT JOIN order_sweeps w ON w.shop_domain = s.shop_domain WHERE s.shop_domain = @shop
                """, new { shop }, cancellationToken: ct));
        }
        var search = resumeFrom is { } resume
            ? $"(financial_status:paid OR financial_status:partially_refunded) updated_at:>='{resume.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}'"
            : $"(financial_status:paid OR financial_status:partially_refunded) " +
                $"updated_at:>'{since.AddMinutes(-options.Value.OverlapMinutes).UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}'";

        var awarded = 0;
        var seen = 0;
        string? after = null;
        DateTimeOffset? lastRead = null;
        var complete = false;
        for (var page = 0; page < options.Value.MaxPages; page++)
        {
            var data = await shopify.QueryAsync(shop, Query, new { query = search, first = options.Value.PageSize, after }, ct);
            var orders = data.GetProperty("orders");
            foreach (var node in orders.GetProperty("nodes").EnumerateArray())
            {
                seen++;
                if (await AwardAsync(shop, Facts(node), ct)) awarded++;
                if (node.TryGetProperty("updatedAt", out var u) && u.ValueKind == JsonValueKind.String) lastRead = u.GetDateTimeOffset();
            }
            var info = orders.GetProperty("pageInfo");
            if (!info.GetProperty("hasNextPage").GetBoolean())
            {
                complete = true;
                break;
            }
            after = info.GetProperty("endCursor").GetString();
        }
        // Stopped by MaxPages: what was not read comes after the last order read (they come by update time), so the next
        // sweep resumes there, and the watermark stays where it was until a sweep reads to the end.
        DateTimeOffset? resumeNext = null;
        if (!complete)
        {
            resumeNext = lastRead ?? resumeFrom ?? since;
            LogStoppedEarly(shop, seen, resumeNext.Value);
        }
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO order_sweeps (shop_domain, swept_until, resume_from, last_run_at, last_error)
                VALUES (@shop, CASE WHEN @complete THEN @until ELSE @since END, @resumeNext, now(), NULL)
                ON CONFLICT (shop_domain) DO UPDATE SET swept_until = CASE WHEN @complete THEN excluded.swept_until ELSE order_sweeps.swept_until END,
                    resume_from = excluded.resume_from, last_run_at = now(), last_error = NULL
                """, new { shop, until, since, complete, resumeNext }, cancellationToken: ct));
        }
        if (awarded > 0) LogRecovered(shop, awarded, seen);
        return awarded;
    }

    private async Task<bool> AwardAsync(string shop, OrderFacts order, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, tx, shop, ct);
        var outcome = await OrderEarnings.AwardAsync(conn, tx, shop, order, settings, "sweep", programClock.Now, ct);
        await Conversion.CouponUse.MarkUsedAsync(conn, tx, shop, order.OrderId, order.DiscountCodes?.Select(d => d.Code).ToList() ?? [], "sweep",
            logger, ct);
        await Campaigns.CouponRedemptions.RecordAsync(conn, tx, shop, order, ct);
        await tx.CommitAsync(ct);
        if (outcome.Status != "awarded") return false;
        LogAwarded(shop, order.OrderId, outcome.Points);
        if (settings.PosMode && outcome.PendingUntil is null) posSync.Notify();
        return true;
    }

    private OrderFacts Facts(JsonElement node)
    {
        var total = node.GetProperty("totalPriceSet");
        var updatedAt = node.TryGetProperty("updatedAt", out var u) && u.ValueKind == JsonValueKind.String
            ? u.GetDateTimeOffset() : (DateTimeOffset?)null;
        var processedAt = OrderPayloads.NotBefore(
            node.TryGetProperty("processedAt", out var p) && p.ValueKind == JsonValueKind.String ? p.GetDateTimeOffset() : null,
            node.TryGetProperty("createdAt", out var created) && created.ValueKind == JsonValueKind.String ? created.GetDateTimeOffset() : null);
        return new OrderFacts(
            OrderId: long.Parse(node.GetProperty("legacyResourceId").GetString()!, System.Globalization.CultureInfo.InvariantCulture),
            Name: node.TryGetProperty("name", out var n) ? n.GetString() : null,
            CustomerId: node.TryGetProperty("customer", out var c) && c.ValueKind == JsonValueKind.Object
                ? long.Parse(c.GetProperty("legacyResourceId").GetString()!, System.Globalization.CultureInfo.InvariantCulture) : null,
            Test: node.TryGetProperty("test", out var t) && t.ValueKind == JsonValueKind.True,
            Cancelled: node.TryGetProperty("cancelledAt", out var ca) && ca.ValueKind == JsonValueKind.String,
            Subtotal: OrderPayloads.Money(node.GetProperty("subtotalPriceSet").GetProperty("shopMoney").GetProperty("amount")),
            Total: OrderPayloads.Money(total.GetProperty("shopMoney").GetProperty("amount")),
            Currency: total.GetProperty("shopMoney").GetProperty("currencyCode").GetString() ?? "",
            PresentmentTotal: OrderPayloads.Money(total.GetProperty("presentmentMoney").GetProperty("amount")),
            DiscountCodes: DiscountCodes(node),
            ProcessedAt: processedAt,
            PaidAt: OrderPayloads.PaidAt(LastPayment(node), processedAt, updatedAt, clock.GetUtcNow()));
    }

    /// <summary>When the order's last successful sale or capture was processed: when it became paid (a pay-later order: its payment).</summary>
    private static DateTimeOffset? LastPayment(JsonElement node) =>
        node.TryGetProperty("transactions", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray()
                .Where(t => t.TryGetProperty("status", out var s) && s.GetString() == "SUCCESS" && t.TryGetProperty("kind", out var k)
                    && k.GetString() is "SALE" or "CAPTURE" && t.TryGetProperty("processedAt", out var at) && at.ValueKind == JsonValueKind.String)
                .Select(t => (DateTimeOffset?)t.GetProperty("processedAt").GetDateTimeOffset()).Max()
            : null;

    /// <summary>
    /// The codes the order used. The Admin API names them without what each took off; an order with one code (the usual case)
    /// gets the order's total discount, one with several gets 0 for each (the webhook, when it arrives first, has the amounts).
    /// </summary>
    private static List<DiscountCodeUse>? DiscountCodes(JsonElement node)
    {
        if (!node.TryGetProperty("discountCodes", out var codes) || codes.ValueKind != JsonValueKind.Array) return null;
        var names = codes.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList();
        var total = names.Count == 1 && node.TryGetProperty("totalDiscountsSet", out var set) && set.ValueKind == JsonValueKind.Object
            ? OrderPayloads.Money(set.GetProperty("shopMoney").GetProperty("amount")) : 0m;
        return names.Select(n => new DiscountCodeUse(n, total, Estimated: true)).ToList();
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The missed-order sweep awarded order {OrderId} of {Shop} ({Points} points): its webhook never arrived")]
    private partial void LogAwarded(string shop, long orderId, long points);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Missed-order sweep of {Shop} stopped at its page limit after {Seen} orders; the next run resumes from {LastRead}")]
    private partial void LogStoppedEarly(string shop, int seen, DateTimeOffset lastRead);

    [LoggerMessage(Level = LogLevel.Information, Message = "Missed-order sweep of {Shop}: {Awarded} of {Seen} orders were missing")]
    private partial void LogRecovered(string shop, int awarded, int seen);

}
