namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// A tier as the audience of campaigns (through its Shopify customer segment on its tag, <see cref="TierSegments"/>): which tier can
/// be one, and what a tier whose campaigns are not deactivated may no longer do (lose its tag, be archived, share its tag).
/// </summary>
public static class TierAudience
{
    /// <summary>
    /// One change of a shop's tier tags or tier campaigns at a time, until <paramref name="tx"/> ends: a tier taking a tag and a campaign
    /// stored for another tier with that tag each see the other's commit, never both pass unseen.
    /// </summary>
    public static Task LockTagsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended('tier-tags:' || @shop, 0))", new { shop }, tx,
            cancellationToken: ct));

    /// <summary>Why a campaign cannot be limited to the tier (null: it can): Shopify knows its members by its customer tag.</summary>
    public static async Task<string?> WhyNotAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long tierId, bool lockTier,
        CancellationToken ct)
    {
        var tag = await conn.QuerySingleOrDefaultAsync<(long Id, string? Tag, bool Shared)?>(new CommandDefinition("""
            SELECT t.id, t.customer_tag, EXISTS (SELECT 1 FROM tiers o WHERE o.shop_domain = t.shop_domain AND o.id <> t.id
                                                   AND o.archived_at IS NULL AND lower(o.customer_tag) = lower(t.customer_tag)) AS shared
            FROM tiers t WHERE t.id = @tierId AND t.shop_domain = @shop AND t.archived_at IS NULL
            """ + (lockTier ? " FOR SHARE OF t" : ""), new { shop, tierId }, tx, cancellationToken: ct));
        return tag is null ? "No such active tier in this shop."
            : tag.Value.Tag is null ? "The tier has no customer tag, so Shopify cannot tell its members; give the tier a customerTag first."
            : tag.Value.Shared ? "Another tier has the same customer tag, so Shopify cannot tell this tier's members apart; give it a tag of its own."
            : null;
    }

    /// <summary>
    /// Whether a campaign not deactivated is limited to the tier: Shopify knows its members by the tier's tag. One past its end counts
    /// too, since an edit can extend it.
    /// </summary>
    public static Task<bool> InCampaignsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, long id, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition($"SELECT EXISTS ({LiveCampaignOf} AND c.tier_id = @id)", new
        {
            id, creating = Campaigns.CampaignState.Creating, generating = Campaigns.CampaignState.Generating, active = Campaigns.CampaignState.Active,
        }, tx, cancellationToken: ct));

    private const string LiveCampaignOf = "SELECT 1 FROM campaigns c WHERE c.state IN (@creating, @generating, @active)";

    /// <summary>
    /// Whether <paramref name="tag"/> would be shared (case aside, as Shopify's tags) by tier <paramref name="id"/> (0: a new one) and
    /// another active tier while either has campaigns: their segment would let the other tier's members in.
    /// </summary>
    public static Task<bool> TagClashAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long id, string tag, CancellationToken ct) =>
        conn.ExecuteScalarAsync<bool>(new CommandDefinition($"""
            SELECT EXISTS (SELECT 1 FROM tiers o WHERE o.shop_domain = @shop AND o.id <> @id AND o.archived_at IS NULL
                             AND lower(o.customer_tag) = lower(@tag)
                             AND EXISTS ({LiveCampaignOf} AND c.tier_id IN (o.id, @id)))
            """, new
        {
            shop, id, tag, creating = Campaigns.CampaignState.Creating, generating = Campaigns.CampaignState.Generating,
            active = Campaigns.CampaignState.Active,
        }, tx, cancellationToken: ct));

    public static ProblemHttpResult InCampaigns(string change) => Problems.Create(StatusCodes.Status409Conflict, "tier_in_campaigns",
        $"Campaigns are limited to this tier or to one with the same tag, so it cannot {change}; deactivate them first or choose another tag.");
}
