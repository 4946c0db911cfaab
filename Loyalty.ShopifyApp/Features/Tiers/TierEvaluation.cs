using Loyalty.ShopifyApp.Features.Flow;

namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// Puts a customer in the tier their figure reaches, in the caller's transaction: at once when it is higher; when it is lower, only
/// once the shop's grace period has passed since the figure fell below their tier (a tier that was archived is left at once); a
/// tier set by hand is kept. Each change is audited (<c>tier_changes</c>), and goes out as the <c>tier.changed</c> event and the
/// Flow trigger "Loyalty tier changed".
/// </summary>
public static class TierEvaluation
{
    /// <summary>A change made: the tier left and the tier entered (null: none).</summary>
    public sealed record Change(long Id, Tier? From, Tier? To, string Cause);

    /// <param name="takenBack">Points were taken back (a refund, a cancellation): a drop it causes is at once, not after the grace
    /// period, so buying into a tier and returning the order does not keep it.</param>
    public static async Task<Change?> EvaluateAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customer, DateTimeOffset now,
        CancellationToken ct, bool takenBack = false)
    {
        // A shop with tiers gives every customer it evaluates a row (none yet: no tier), if the customer is still the shop's (an erased
        // one is not brought back); one without tiers keeps only the rows it had. The row is locked for the evaluation, so concurrent
        // ones (an award, the daily job, the merchant) take turns.
        var row = await conn.QuerySingleOrDefaultAsync<CustomerTier>(new CommandDefinition("""
            INSERT INTO customer_tiers (shop_domain, customer_id, tier_id, source, since, evaluated_at)
            SELECT @shop, @customer, NULL, 'computed', @now, @now
            WHERE EXISTS (SELECT 1 FROM tiers WHERE shop_domain = @shop AND archived_at IS NULL)
              AND (EXISTS (SELECT 1 FROM point_balances WHERE shop_domain = @shop AND customer_id = @customer)
                   OR EXISTS (SELECT 1 FROM order_earnings WHERE shop_domain = @shop AND customer_id = @customer))
            ON CONFLICT (shop_domain, customer_id) DO NOTHING;
            SELECT tier_id, source, since, below_since, metric FROM customer_tiers WHERE shop_domain = @shop AND customer_id = @customer
            FOR UPDATE;
            """, new { shop, customer, now }, tx, cancellationToken: ct));
        if (row is null) return null; // no tiers, and never was a member
        var (rules, tiers) = await TierProgram.LoadAsync(conn, tx, shop, ct);
        var metric = await TierProgram.MetricAsync(conn, tx, shop, customer, rules, now, ct);
        var target = TierProgram.Reached(tiers, metric);
        var current = row.TierId is { } id ? tiers.FirstOrDefault(t => t.Id == id) : null;
        var (move, below) = TierProgram.Decide(row, current, target, rules, now, takenBack);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE customer_tiers SET metric = @metric, evaluated_at = @now,
                tier_id = CASE WHEN @move THEN @target ELSE tier_id END, since = CASE WHEN @move THEN @now ELSE since END,
                below_since = CASE WHEN source = 'manual' THEN NULL ELSE @below END
            WHERE shop_domain = @shop AND customer_id = @customer
            """, new { shop, customer, metric, now, move, target = target?.Id, below }, tx, cancellationToken: ct));
        if (!move) return null;
        var from = current ?? (row.TierId is { } gone ? await ArchivedAsync(conn, tx, gone, ct) : null);
        var cause = (target?.Threshold ?? 0) > (from?.Threshold ?? 0) ? TierCauses.Rose : TierCauses.Dropped;
        return await RecordAsync(conn, tx, shop, customer, from, target, cause, null, "system", ct);
    }

    internal static Task<Tier?> ArchivedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, CancellationToken ct) =>
        conn.QuerySingleOrDefaultAsync<Tier>(new CommandDefinition(
            "SELECT id, name, threshold, multiplier, perks, customer_tag, conversion_bonus_percent FROM tiers WHERE id = @id", new { id }, tx,
            cancellationToken: ct));

    /// <summary>Audits a change and tells the shop's other systems and its Flow workflows.</summary>
    public static async Task<Change> RecordAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customer, Tier? from, Tier? to,
        string cause, string? reason, string actor, CancellationToken ct)
    {
        var id = await conn.ExecuteScalarAsync<long>(new CommandDefinition("""
            INSERT INTO tier_changes (shop_domain, customer_id, from_tier_id, to_tier_id, cause, reason, actor)
            VALUES (@shop, @customer, @fromId, @toId, @cause, @reason, @actor) RETURNING id
            """, new { shop, customer, fromId = from?.Id, toId = to?.Id, cause, reason, actor }, tx, cancellationToken: ct));
        await Events.OutgoingEvents.EmitAsync(conn, tx, shop, "tier.changed", new
        {
            customerId = customer, from = from is null ? null : new { id = from.Id, name = from.Name },
            to = to is null ? null : new { id = to.Id, name = to.Name, multiplier = to.Multiplier }, cause, reason,
        }, ct);
        // The tier's perk in Shopify: its customer tag goes with the tier (the customer-tags job applies it, in order).
        // Shopify's tags are case-insensitive: "vip" and "VIP" are one tag, kept, not removed.
        static bool Same(string? a, string? b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
        var add = to?.CustomerTag is { } gained && !Same(gained, from?.CustomerTag) ? new[] { gained } : [];
        var remove = from?.CustomerTag is { } lost && !Same(lost, to?.CustomerTag) ? new[] { lost } : [];
        if (add.Length + remove.Length > 0)
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO customer_tag_changes (shop_domain, customer_id, add_tags, remove_tags) VALUES (@shop, @customer, @add, @remove)
                """, new { shop, customer, add, remove }, tx, cancellationToken: ct));
        }
        await FlowTriggers.QueueAsync(conn, tx, shop, FlowTrigger.TierChanged, $"tier-change:{id}", customer, new Dictionary<string, object>
        {
            ["Previous tier"] = from?.Name ?? "", ["New tier"] = to?.Name ?? "", ["Change"] = cause,
            ["Reason"] = string.Join(' ', (reason ?? "").Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries)), // a one-line field
        }, ct);
        return new Change(id, from, to, cause);
    }
}
