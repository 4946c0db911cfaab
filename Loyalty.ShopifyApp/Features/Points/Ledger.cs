namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// One movement of points. <see cref="Reference"/> is unique per shop: posting it twice applies it once. <see cref="Points"/> moves the
/// spendable balance, <see cref="PendingPoints"/> the points an order holds until its pending period ends (a release moves both).
/// <see cref="OccurredAt"/>: when the movement happened in the program's time (an order's payment, the end of its pending period, a
/// customer's or merchant's action): a credit's points age towards expiry from then, and a customer's activity is dated by it; null:
/// when the row is written. <see cref="ExpiresLot"/>: for an expiry, the lot (row id) it takes from.
/// </summary>
public sealed record PointsEntry(
    string Shop,
    long CustomerId,
    long Points,
    string Kind,
    string Reference,
    string Description,
    string ActorType,
    string? ActorId = null,
    long? OrderId = null,
    decimal? Rate = null,
    decimal? BasisAmount = null,
    string? Currency = null,
    long PendingPoints = 0,
    DateTimeOffset? OccurredAt = null,
    long? ExpiresLot = null);

public sealed record Posted(long TransactionId, long Points, long BalanceAfter, bool AlreadyApplied);

public sealed class InsufficientPointsException(long balance, long requested)
    : Exception($"The balance of {balance} points does not cover {requested}.")
{
    public long Balance { get; } = balance;
    public long Requested { get; } = requested;
}

/// <summary>
/// The append-only points ledger. Every movement is a row in <c>point_transactions</c> plus the matching
/// change of <c>point_balances</c>, in the caller's transaction, under the customer's row lock. Triggers in
/// the schema refuse a second row for a reference, a spend below zero and a balance that differs from its
/// ledger, so this code cannot get them wrong silently.
/// </summary>
public static partial class Ledger
{
    public static readonly string[] EarningKinds = ["order_award", "refund_clawback", "cancellation_reversal", "bonus", "feedback",
        "manual_adjustment", "pending_release"];

    /// <summary>Kinds that spend the customer's points (or let them expire): never below zero.</summary>
    public static readonly string[] SpendingKinds = ["conversion", "donation", "manual_adjustment", Expiry];

    /// <summary>Points that expired: neither earned back nor redeemed, counted in a total of their own.</summary>
    public const string Expiry = "expiry";

    /// <summary>Posts <paramref name="e"/> once (a reference posted before answers as it was), as <paramref name="posting"/> asks.</summary>
    public static async Task<Posted> PostAsync(NpgsqlConnection conn, NpgsqlTransaction tx, PointsEntry e, Posting posting, CancellationToken ct)
    {
        // One round trip, run in order: the balance row made sure of and locked, then the reference looked up under that lock.
        long balance, pending;
        (long Id, long Points, long BalanceAfter)? existing;
        await using (var read = await conn.QueryMultipleAsync(new CommandDefinition("""
            INSERT INTO point_balances (shop_domain, customer_id) VALUES (@Shop, @CustomerId) ON CONFLICT DO NOTHING;
            SELECT balance, pending FROM point_balances WHERE shop_domain = @Shop AND customer_id = @CustomerId FOR UPDATE;
            SELECT id, points, balance_after FROM point_transactions WHERE shop_domain = @Shop AND reference = @Reference
            """, e, tx, cancellationToken: ct)))
        {
            (balance, pending) = await read.ReadSingleAsync<(long, long)>();
            existing = await read.ReadSingleOrDefaultAsync<(long Id, long Points, long BalanceAfter)?>();
        }
        if (existing is { } found) return new Posted(found.Id, found.Points, found.BalanceAfter, AlreadyApplied: true);

        var points = e.Points;
        var description = e.Description;
        if (posting.FloorAtZero && points < 0)
        {
            // A conversion the POS is deducting (or may have deducted) is not in the ledger yet: its points are not
            // there to take back. The balance row locked above serialises this with the conversion's own check.
            var held = await HeldByPosConversionsAsync(conn, tx, e.Shop, e.CustomerId, ct);
            var left = Math.Max(balance - held, 0);
            if (left + points < 0)
            {
                points = -left;
                description += held > 0
                    ? $" (limited to the {left} points left besides {held} held by a conversion in progress: floor-at-zero policy)"
                    : $" (limited to the {left} points left: floor-at-zero policy)";
            }
        }
        if (SpendingKinds.Contains(e.Kind) && points < 0 && balance + points < 0 && !posting.PosAuthoritative)
        {
            throw new InsufficientPointsException(balance, -points);
        }

        var earned = EarningKinds.Contains(e.Kind) ? points : 0;
        var expired = e.Kind == Expiry ? -points : 0;
        var redeemed = EarningKinds.Contains(e.Kind) || e.Kind == Expiry ? 0 : -points;
        // The row and the balance it moves, in one round trip (two statements, in order: the ledger's triggers see the row first).
        var id = await conn.QuerySingleAsync<long>(new CommandDefinition("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, actor_id,
                                            order_id, rate, basis_amount, currency, balance_after, pos_authoritative, pending_points, pending_after,
                                            occurred_at, expires_lot)
            VALUES (@Shop, @CustomerId, @points, @Kind, @Reference, @description, @ActorType, @ActorId,
                    @OrderId, @Rate, @BasisAmount, @Currency, @balanceAfter, @posAuthoritative, @PendingPoints, @pendingAfter,
                    @OccurredAt, @ExpiresLot)
            RETURNING id;
            UPDATE point_balances
            SET balance = balance + @points, pending = pending + @PendingPoints, total_earned = total_earned + @earned,
                total_redeemed = total_redeemed + @redeemed, total_expired = total_expired + @expired, updated_at = now()
            WHERE shop_domain = @Shop AND customer_id = @CustomerId
            """, new
        {
            e.Shop, e.CustomerId, points, e.Kind, e.Reference, description, e.ActorType, e.ActorId, e.OrderId, e.Rate, e.BasisAmount,
            e.Currency, balanceAfter = balance + points, posAuthoritative = posting.PosAuthoritative, e.PendingPoints,
            pendingAfter = pending + e.PendingPoints, e.OccurredAt, e.ExpiresLot, earned, redeemed, expired,
        }, tx, cancellationToken: ct));

        if (posting.QueueForPos && points != 0)
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO pos_outbox (shop_domain, transaction_id, customer_id, reference, points)
                VALUES (@Shop, @id, @CustomerId, @Reference, @points)
                """, new { e.Shop, id, e.CustomerId, e.Reference, points }, tx, cancellationToken: ct));
        }
        return new Posted(id, points, balance + points, AlreadyApplied: false);
    }

    /// <summary>
    /// Points a POS-mode customer spent at the POS that the ledger does not show yet: conversions in flight, which the ledger records
    /// once they settle. Whatever takes points from the ledger's balance without the POS's word must leave these alone.
    /// </summary>
    public static Task<long> HeldByPosConversionsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customerId,
        CancellationToken ct) =>
        conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            SELECT coalesce(sum(points), 0) FROM conversions
            WHERE shop_domain = @shop AND customer_id = @customerId AND balance_source = 'pos'
              AND state IN ('pending', 'coupon_created', 'settling')
            """, new { shop, customerId }, tx, cancellationToken: ct));

    /// <summary>The spendable balance, the points still pending, and the net earned and redeemed to date.</summary>
    public sealed record Balance(long Points, long Pending, long TotalEarned, long TotalRedeemed);

    public static async Task<Balance> BalanceAsync(NpgsqlConnection conn, string shop, long customerId, CancellationToken ct) =>
        await conn.QuerySingleOrDefaultAsync<Balance>(new CommandDefinition("""
            SELECT balance AS points, pending, total_earned, total_redeemed FROM point_balances
            WHERE shop_domain = @shop AND customer_id = @customerId
            """, new { shop, customerId }, cancellationToken: ct)) ?? new Balance(0, 0, 0, 0);

    /// <summary>A ledger row as shown: <see cref="PendingPoints"/> is what it moved in (+) or out of (−) the pending points.</summary>
    public sealed record HistoryItem(long Id, long Points, string Kind, string Description, long BalanceAfter, DateTimeOffset CreatedAt,
        long? OrderId, long PendingPoints = 0);

    public static async Task<IReadOnlyList<HistoryItem>> HistoryAsync(NpgsqlConnection conn, string shop, long customerId, long? before, int limit,
        CancellationToken ct) =>
        (await conn.QueryAsync<HistoryItem>(new CommandDefinition("""
            SELECT id, points, kind, description, balance_after, created_at, order_id, pending_points FROM point_transactions
            WHERE shop_domain = @shop AND customer_id = @customerId AND (@before::bigint IS NULL OR id < @before)
            ORDER BY id DESC LIMIT @limit
            """, new { shop, customerId, before, limit }, cancellationToken: ct))).ToList();
}
