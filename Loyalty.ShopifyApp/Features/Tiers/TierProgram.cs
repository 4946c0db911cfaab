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

    /// <summary>The Shopify customer tag its members carry (a segment on it limits discounts to the tier), or null.</summary>
    public string? CustomerTag { get; init; }

    /// <summary>How much more a member's coupon is worth, in percent of its points' value (a better conversion value).</summary>
    public decimal ConversionBonusPercent { get; init; }
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
            SELECT id, name, threshold, multiplier, perks, customer_tag, conversion_bonus_percent FROM tiers
            WHERE shop_domain = @shop AND archived_at IS NULL
            ORDER BY threshold
            """, new { shop }, tx, cancellationToken: ct))).ToList();
        return (rules ?? TierRules.Default, tiers);
    }

    /// <summary>
    /// What an order of <paramref name="customer"/> earns at now: the multiplier of the tier their last evaluation would give them
    /// (a grace period that ran out, a window that moved on, a tier archived count at once, not at the next evaluation), 1 without
    /// one. Read without locking: the award's own evaluation, after the ledger's locks, records any change.
    /// </summary>
    public static async Task<decimal> EffectiveMultiplierAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer,
        DateTimeOffset now, CancellationToken ct) =>
        (await EffectiveTierAsync(conn, tx, shop, customer, now, ct))?.Multiplier ?? 1m;

    /// <summary>What a member's points are worth against a non-member's: 1 + their tier's conversion bonus (1 without one).</summary>
    public static async Task<decimal> ConversionFactorAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer,
        DateTimeOffset now, CancellationToken ct) =>
        1m + ((await EffectiveTierAsync(conn, tx, shop, customer, now, ct))?.ConversionBonusPercent ?? 0m) / 100m;

    /// <summary><see cref="ConversionFactorAsync(NpgsqlConnection, NpgsqlTransaction?, string, long, DateTimeOffset, CancellationToken)"/>
    /// from <see cref="LookupSql"/>'s two results, read by the caller in its own batch.</summary>
    public static async Task<decimal> ConversionFactorAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer,
        DateTimeOffset now, CustomerTier? row, bool anyTiers, CancellationToken ct) =>
        1m + ((await EffectiveTierAsync(conn, tx, shop, customer, now, row, anyTiers, ct))?.ConversionBonusPercent ?? 0m) / 100m;

    /// <summary>The customer's tier row, then whether the shop has any tier, on <c>@shop</c> and <c>@customer</c>.</summary>
    public const string LookupSql = """
        SELECT tier_id, source, since, below_since, metric FROM customer_tiers WHERE shop_domain = @shop AND customer_id = @customer;
        SELECT EXISTS (SELECT 1 FROM tiers WHERE shop_domain = @shop AND archived_at IS NULL);
        """;

    /// <summary>ISO 4217 currencies without minor units: an amount in them is whole.</summary>
    private static readonly HashSet<string> WholeCurrencies = new(StringComparer.OrdinalIgnoreCase)
    {
        "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF",
    };

    /// <summary><paramref name="amount"/> rounded down to <paramref name="currency"/>'s smallest unit (a yen, a cent).</summary>
    public static decimal RoundDown(decimal amount, string? currency) =>
        decimal.Round(amount, currency is not null && WholeCurrencies.Contains(currency) ? 0 : 2, MidpointRounding.ToZero);

    /// <summary>The tier the customer holds by the rules now (see <see cref="EffectiveMultiplierAsync"/>), or null.</summary>
    public static async Task<Tier?> EffectiveTierAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer,
        DateTimeOffset now, CancellationToken ct)
    {
        CustomerTier? row;
        bool anyTiers;
        await using (var read = await conn.QueryMultipleAsync(new CommandDefinition(LookupSql, new { shop, customer }, tx, cancellationToken: ct)))
        {
            row = await read.ReadSingleOrDefaultAsync<CustomerTier>();
            anyTiers = await read.ReadSingleAsync<bool>();
        }
        return await EffectiveTierAsync(conn, tx, shop, customer, now, row, anyTiers, ct);
    }

    private static async Task<Tier?> EffectiveTierAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer,
        DateTimeOffset now, CustomerTier? row, bool anyTiers, CancellationToken ct)
    {
        if (row?.TierId is null && !anyTiers) return null;
        var (rules, tiers) = await LoadAsync(conn, tx, shop, ct);
        var current = row?.TierId is { } id ? tiers.FirstOrDefault(t => t.Id == id) : null;
        if (row?.Source == "manual") return current;
        var target = Reached(tiers, await MetricAsync(conn, tx, shop, customer, rules, now, ct));
        return Decide(row, current, target, rules, now, takenBack: false).Move ? target : current;
    }

    /// <summary>A customer's move, if any: up at once; down once the grace period since the figure fell has passed (at once for a
    /// tier that is gone, or when points were taken back); <paramref name="row"/> null: no tier yet.</summary>
    public static (bool Move, DateTimeOffset? BelowSince) Decide(CustomerTier? row, Tier? current, Tier? target, TierRules rules,
        DateTimeOffset now, bool takenBack)
    {
        var archived = row?.TierId is not null && current is null;
        var rising = (target?.Threshold ?? 0) > (current?.Threshold ?? 0);
        var falling = archived || (target?.Threshold ?? 0) < (current?.Threshold ?? 0);
        var below = falling ? row?.BelowSince ?? now : (DateTimeOffset?)null;
        var move = (row?.Source ?? "computed") == "computed"
            && (rising || (falling && (archived || takenBack || now - below!.Value >= TimeSpan.FromDays(rules.GraceDays))));
        return (move, move ? null : below);
    }

    /// <summary>
    /// The customer's figure: points earned from orders at the shop's rate (before any tier's multiplier, so a tier does not feed
    /// itself), net of refunds and cancellations; or money spent on orders (shop currency, net of refunds), whether or not they earned
    /// points (not test orders). An order counts once its points are spendable (after any pending period), from its payment within
    /// the window.
    /// </summary>
    public static Task<decimal> MetricAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customer, TierRules rules,
        DateTimeOffset now, CancellationToken ct) =>
        conn.ExecuteScalarAsync<decimal>(new CommandDefinition("""
            SELECT round(coalesce(sum(CASE WHEN @basis = 'points_earned'
                    THEN CASE WHEN e.status = 'awarded' THEN (e.awarded_points - e.taken_back_points) / e.tier_multiplier ELSE 0 END
                    ELSE e.basis_amount * (1 - least((SELECT coalesce(sum(r.refunded_amount), 0) FROM order_refunds r
                                                      WHERE r.shop_domain = e.shop_domain AND r.order_id = e.order_id), e.order_total)
                                               / nullif(e.order_total, 0)) END), 0), 2)
            FROM order_earnings e
            WHERE e.shop_domain = @shop AND e.customer_id = @customer AND e.status IN ('awarded', 'skipped')
              AND e.skip_reason IS DISTINCT FROM 'test order'
              AND (e.pending_until IS NULL OR e.released_at IS NOT NULL)
              AND (@since::timestamptz IS NULL OR coalesce(e.priced_at, e.created_at) >= @since)
            """, new
        {
            shop, customer, basis = rules.Basis,
            since = rules.WindowMonths is { } m ? now.AddMonths(-m).ToUniversalTime() : (DateTimeOffset?)null,
        }, tx, cancellationToken: ct));

    /// <summary>The highest tier whose threshold <paramref name="metric"/> reaches, or null.</summary>
    public static Tier? Reached(IReadOnlyList<Tier> tiers, decimal metric) => tiers.LastOrDefault(t => t.Threshold <= metric);
}
