namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>What a shop's tiers are measured on.</summary>
public static class TierBases
{
    public const string PointsEarned = "points_earned";
    public const string MoneySpent = "money_spent";

    public static readonly string[] All = [PointsEarned, MoneySpent];
}

/// <summary>Why a customer's tier changed (<c>tier_changes.cause</c>).</summary>
public static class TierCauses
{
    public const string Rose = "rose";
    public const string Dropped = "dropped";
    public const string Manual = "manual";
    public const string Automatic = "automatic";
}

/// <param name="WindowMonths">The rolling window the figure is summed over; null: the customer's lifetime.</param>
/// <param name="GraceDays">How long a customer keeps a tier after their figure falls below its threshold.</param>
public sealed record TierRules(string Basis, int? WindowMonths, int GraceDays)
{
    public static readonly TierRules Default = new(TierBases.PointsEarned, null, 30);
}

/// <summary>A tier (read by Dapper through its properties: a text[] column does not bind to a constructor's string[]).</summary>
public sealed record Tier
{
    public long Id { get; init; }

    public string Name { get; init; } = "";

    public decimal Threshold { get; init; }

    public decimal Multiplier { get; init; }

    public string[] Perks { get; init; } = [];
}

/// <summary>A customer's tier as evaluated: the tier (null: none), whether it was set by hand, and their figure.</summary>
public sealed record CustomerTier(long? TierId, string Source, DateTimeOffset Since, DateTimeOffset? BelowSince, decimal Metric);

/// <summary>
/// A shop's tier program: its rules and its active tiers (lowest threshold first), read in the caller's transaction; the figure a
/// customer is measured by; and the multiplier an order of theirs earns at.
/// </summary>
public static class TierProgram
{
    public static async Task<(TierRules Rules, List<Tier> Tiers)> LoadAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop,
        CancellationToken ct)
    {
        var rules = await conn.QuerySingleOrDefaultAsync<TierRules>(new CommandDefinition(
            "SELECT basis, window_months, grace_days FROM tier_programs WHERE shop_domain = @shop", new { shop }, tx, cancellationToken: ct));
        var tiers = (await conn.QueryAsync<Tier>(new CommandDefinition("""
            SELECT id, name, threshold, multiplier, perks FROM tiers WHERE shop_domain = @shop AND archived_at IS NULL ORDER BY threshold
            """, new { shop }, tx, cancellationToken: ct))).ToList();
        return (rules ?? TierRules.Default, tiers);
    }

    /// <summary>What an order of <paramref name="customer"/> earns at: their tier's multiplier, 1 without one.</summary>
    public static async Task<decimal> MultiplierAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customer,
        CancellationToken ct) =>
        await conn.ExecuteScalarAsync<decimal?>(new CommandDefinition("""
            SELECT t.multiplier FROM customer_tiers c JOIN tiers t ON t.id = c.tier_id AND t.archived_at IS NULL
            WHERE c.shop_domain = @shop AND c.customer_id = @customer
            """, new { shop, customer }, tx, cancellationToken: ct)) ?? 1m;

    /// <summary>
    /// The customer's figure: points earned from orders (net of refunds and cancellations), or money spent on them (shop currency, net
    /// of refunds), counting an order once its points are spendable (after any pending period), from its payment within the window.
    /// </summary>
    public static Task<decimal> MetricAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer, TierRules rules,
        DateTimeOffset now, CancellationToken ct) =>
        conn.ExecuteScalarAsync<decimal>(new CommandDefinition("""
            SELECT coalesce(sum(CASE WHEN @basis = 'points_earned' THEN (awarded_points - taken_back_points)::numeric
                ELSE basis_amount * (1 - least(refunded_amount, order_total) / nullif(order_total, 0)) END), 0)::numeric(18, 2)
            FROM order_earnings
            WHERE shop_domain = @shop AND customer_id = @customer AND status = 'awarded'
              AND (pending_until IS NULL OR released_at IS NOT NULL)
              AND (@since::timestamptz IS NULL OR coalesce(priced_at, created_at) >= @since)
            """, new
        {
            shop, customer, basis = rules.Basis,
            since = rules.WindowMonths is { } m ? now.AddMonths(-m).ToUniversalTime() : (DateTimeOffset?)null,
        }, tx, cancellationToken: ct));

    /// <summary>The highest tier whose threshold <paramref name="metric"/> reaches, or null.</summary>
    public static Tier? Reached(IReadOnlyList<Tier> tiers, decimal metric) => tiers.LastOrDefault(t => t.Threshold <= metric);
}
