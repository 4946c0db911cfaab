namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// A customer's standing in the shop's tiers, as My Page and the admin show it: their tier and its perks, how they are measured, their
/// figure now, and what the next tier needs; null when the shop has no tiers and the customer never had one.
/// </summary>
/// <param name="Source"><c>computed</c> by the rules, or <c>manual</c>: set by the merchant, kept until they give it back.</param>
/// <param name="KeptUntil">When a tier the figure no longer reaches is left (the grace period's end), or null.</param>
public sealed record CustomerTierStatus(TierView? Tier, string Source, DateTimeOffset Since, string Basis, int? WindowMonths, decimal Current,
    NextTier? Next, DateTimeOffset? KeptUntil)
{
    public static async Task<CustomerTierStatus?> ReadAsync(NpgsqlConnection conn, string shop, long customer, DateTimeOffset now,
        CancellationToken ct)
    {
        var (rules, tiers) = await TierProgram.LoadAsync(conn, null, shop, ct);
        var row = await conn.QuerySingleOrDefaultAsync<CustomerTier>(new CommandDefinition("""
            SELECT tier_id, source, since, below_since, metric FROM customer_tiers WHERE shop_domain = @shop AND customer_id = @customer
            """, new { shop, customer }, cancellationToken: ct));
        if (tiers.Count == 0 && row?.TierId is null) return null;
        var current = await TierProgram.MetricAsync(conn, null, shop, customer, rules, now, ct);
        var tier = row?.TierId is { } id ? tiers.FirstOrDefault(t => t.Id == id) : null;
        var next = tiers.FirstOrDefault(t => t.Threshold > (tier?.Threshold ?? 0));
        return new CustomerTierStatus(tier is null ? null : new TierView(tier.Id, tier.Name, tier.Multiplier, tier.Perks),
            row?.Source ?? "computed", row?.Since ?? now, rules.Basis, rules.WindowMonths, current,
            next is null ? null : new NextTier(next.Name, next.Threshold, Math.Max(0, next.Threshold - current)),
            row?.BelowSince is { } below && row.Source == "computed" ? below.AddDays(rules.GraceDays) : null);
    }
}

public sealed record TierView(long Id, string Name, decimal Multiplier, IReadOnlyList<string> Perks);

/// <param name="Remaining">What the figure still needs to reach it.</param>
public sealed record NextTier(string Name, decimal Threshold, decimal Remaining);
