namespace Loyalty.ShopifyApp.Features.Pending;

/// <summary>An order whose points are still pending: how many it holds now (awarded less refunds) and when they become spendable.</summary>
public sealed record PendingOrder(long OrderId, string? OrderName, long Points, DateTimeOffset AvailableAt);

public static class PendingOrders
{
    /// <summary>At most this many are listed (the soonest first); the pending total always counts them all.</summary>
    public const int MaxListed = 50;

    public static async Task<IReadOnlyList<PendingOrder>> ForCustomerAsync(NpgsqlConnection conn, string shop, long customerId,
        CancellationToken ct) =>
        (await conn.QueryAsync<PendingOrder>(new CommandDefinition("""
            SELECT order_id, order_name, awarded_points - taken_back_points AS points, pending_until AS available_at FROM order_earnings
            WHERE shop_domain = @shop AND customer_id = @customerId AND status = 'awarded' AND pending_until IS NOT NULL AND released_at IS NULL
              AND awarded_points > taken_back_points
            ORDER BY pending_until, order_id LIMIT @MaxListed
            """, new { shop, customerId, MaxListed }, cancellationToken: ct))).ToList();
}
