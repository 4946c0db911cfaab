namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>How orders earn: the rate, the amount it applies to, and whether test orders earn.</summary>
public sealed record EarnRule(decimal Rate, string Basis, bool TestOrdersEarn)
{
    /// <summary>
    /// The rule in force at <paramref name="at"/> (when Shopify processed the order), from the shop's saved changes
    /// (<c>earn_rule_changes</c>, written by a trigger on every save). Before the shop's first save the defaults were in force;
    /// an order that names no time earns by the current rule. Shopify's times have whole seconds, so a change counts from the
    /// start of the second it was saved in.
    /// </summary>
    public static async Task<EarnRule> InForceAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, DateTimeOffset? at,
        ShopSettings current, CancellationToken ct)
    {
        if (at is null) return Of(current);
        var found = await conn.QuerySingleOrDefaultAsync<(bool Known, decimal Rate, string Basis, bool TestOrdersEarn)?>(new CommandDefinition("""
            SELECT true, earn_rate, earn_basis, test_orders_earn FROM earn_rule_changes
            WHERE shop_domain = @shop AND date_trunc('second', effective_at) <= @at ORDER BY effective_at DESC LIMIT 1
            """, new { shop, at = at.Value.UtcDateTime }, tx, cancellationToken: ct));
        if (found is { } rule) return new EarnRule(rule.Rate, rule.Basis, rule.TestOrdersEarn);
        var saved = await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
            "SELECT EXISTS (SELECT 1 FROM earn_rule_changes WHERE shop_domain = @shop)", new { shop }, tx, cancellationToken: ct));
        return Of(saved ? ShopSettings.Defaults : current);
    }

    /// <summary>
    /// <see cref="InForceAsync"/> for many times at once, on <c>@shop</c> and <c>@ats</c> (see <see cref="Ledger.Instant"/>): one row
    /// per time, in order, each the change in force then (if any) and whether the shop ever saved a rule;
    /// <see cref="Of(Found, DateTimeOffset?, ShopSettings)"/> makes a row the rule.
    /// </summary>
    public const string InForceSetSql = """
        SELECT r.earn_rate AS rate, r.earn_basis AS basis, r.test_orders_earn,
               EXISTS (SELECT 1 FROM earn_rule_changes WHERE shop_domain = @shop) AS saved
        FROM unnest(@ats::text[]::timestamptz[]) WITH ORDINALITY AS o(at, i)
        LEFT JOIN LATERAL (SELECT earn_rate, earn_basis, test_orders_earn FROM earn_rule_changes
                           WHERE shop_domain = @shop AND date_trunc('second', effective_at) <= o.at
                           ORDER BY effective_at DESC LIMIT 1) r ON true
        ORDER BY o.i
        """;

    /// <summary>A row of <see cref="InForceSetSql"/> (Dapper fills it by column name).</summary>
    public readonly record struct Found(decimal? Rate, string? Basis, bool? TestOrdersEarn, bool Saved);

    /// <summary>The rule a row of <see cref="InForceSetSql"/> names for <paramref name="at"/>, as <see cref="InForceAsync"/> decides.</summary>
    public static EarnRule Of(Found row, DateTimeOffset? at, ShopSettings current) =>
        at is null ? Of(current)
        : row.Rate is { } rate ? new EarnRule(rate, row.Basis!, row.TestOrdersEarn!.Value)
        : Of(row.Saved ? ShopSettings.Defaults : current);

    private static EarnRule Of(ShopSettings s) => new(s.EarnRate, s.EarnBasis, s.TestOrdersEarn);
}
