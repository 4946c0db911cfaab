using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Db;

namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// A tier as a Shopify customer segment, so a campaign can be limited to its members: they carry the tier's customer tag (the
/// customer-tags job), the segment <c>customer_tags CONTAINS 'tag'</c> holds exactly them, and the campaign's discount has that segment
/// as its context. One segment per tier, named <see cref="Name"/>: Shopify's segment names are unique, so a create whose answer was
/// lost is found again by its name, never made twice. One run per tier at a time on every instance (an advisory lock held across the
/// Shopify calls), so two runs cannot leave the segment on a tag read before the other's. Before a campaign uses it the segment is
/// read back from Shopify: one the merchant changed is put back on the tag, one they deleted is made again and the tier's live
/// campaigns are moved onto it. When the tier's tag changes, the <c>tier-segments</c> job moves the segment's query onto the new tag.
/// </summary>
public sealed partial class TierSegments(NpgsqlDataSource db, ShopifyGraphQLClient shopify, ShopifyDiscounts discounts,
    ILogger<TierSegments> logger)
{
    public const string RecurringId = "tier-segments";

    private const string RunLockKey = "tier-segments:run";

    /// <summary>The segment's name in the shop's customer segments.</summary>
    public static string Name(long tierId) => $"Loyalty VIP tier {tierId}";

    /// <summary>The segment's query: the tag's characters (letters, digits, spaces, '-', '_') need no escaping.</summary>
    public static string Query(string tag) => $"customer_tags CONTAINS '{tag}'";

    /// <summary>Why a tier cannot be a segment (it is gone, archived, or has no tag): a campaign for it fails, nothing is retried.</summary>
    public sealed class NotASegmentException(string message) : Exception(message);

    private sealed record Tier(string? CustomerTag, string? SegmentId, string? SegmentTag, bool Archived, string? SegmentMovedFrom);

    /// <summary>The id of the segment of <paramref name="tierId"/>'s members, created, repaired or moved onto the tier's tag first.</summary>
    public async Task<string> EnsureAsync(string shop, long tierId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var key = $"tier-segment:{tierId}";
        await TakeAsync(conn, key, maxThrottleWait ?? TimeSpan.FromSeconds(60), ct);
        try
        {
            // Read under the lock: a run that waited sees what the one before it recorded, and the tag as it is now.
            var t = await conn.QuerySingleOrDefaultAsync<Tier>(new CommandDefinition("""
                SELECT customer_tag, segment_id, segment_tag, archived_at IS NOT NULL AS archived, segment_moved_from
                FROM tiers WHERE id = @tierId AND shop_domain = @shop
                """, new { shop, tierId }, cancellationToken: ct));
            if (t is null || t.Archived) throw new NotASegmentException($"Tier {tierId} is not an active tier of this shop.");
            if (t.CustomerTag is not { } tag)
            {
                throw new NotASegmentException($"Tier {tierId} has no customer tag, so Shopify cannot tell its members; give it one.");
            }

            // The recorded segment as Shopify has it now (the merchant may have changed or deleted it), else the one by its name.
            var segment = t.SegmentId is { } known ? await SegmentAsync(shop, known, maxThrottleWait, ct) : null;
            // Shopify's search may still list a segment just deleted: never the one just found gone.
            segment ??= await FindAsync(shop, tierId, maxThrottleWait, ct) is { } byName && byName.Id != t.SegmentId ? byName : null;
            string id;
            if (segment is null)
            {
                id = await CreateAsync(shop, tierId, tag, maxThrottleWait, ct);
            }
            else
            {
                if (segment.Query != Query(tag)) await UpdateAsync(shop, segment.Id, tag, maxThrottleWait, ct);
                id = segment.Id;
            }
            // Recorded first, with the segment the live campaigns are to be moved off: a move cut short is finished by the job.
            var movedFrom = t.SegmentId is { } old && old != id ? old : t.SegmentMovedFrom;
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE tiers SET segment_id = @id, segment_tag = @tag, segment_moved_from = @movedFrom WHERE id = @tierId
                """, new { id, tag, tierId, movedFrom }, cancellationToken: CancellationToken.None));
            if (movedFrom is not null && await RepointAsync(conn, shop, tierId, movedFrom, id, ct))
            {
                await conn.ExecuteAsync(new CommandDefinition("UPDATE tiers SET segment_moved_from = NULL WHERE id = @tierId AND segment_id = @id",
                    new { tierId, id }, cancellationToken: CancellationToken.None));
            }
            if (id != t.SegmentId || tag != t.SegmentTag) LogSegment(shop, tierId, id, tag);
            return id;
        }
        finally
        {
            try
            {
                await SessionLocks.ReleaseAllAsync(db, conn);
            }
            catch (NpgsqlException e)
            {
                LogUnlockFailed(shop, tierId, e.Message); // the session is not reused: its lock ends with it
            }
        }
    }

    /// <summary>
    /// Waits for the tier's lock as long as the caller waits for Shopify (a merchant is waiting, or a job's bound), then gives up with
    /// an error the caller retries later, as when Shopify is busy.
    /// </summary>
    private async Task TakeAsync(NpgsqlConnection conn, string key, TimeSpan wait, CancellationToken ct)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!await SessionLocks.TryTakeAsync(db, conn, key, ct))
        {
            if (clock.Elapsed >= wait) throw new ShopifyGraphQLException($"Another run is updating {key}; try again later.", null);
            await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
        }
    }

    /// <summary>
    /// The job: every tier whose segment names another tag than the tier's is moved onto it, and a move of live campaigns off a deleted
    /// segment cut short is finished (one run at a time).
    /// </summary>
    [AutomaticRetry(Attempts = 0)]
    public async Task<int> SyncDueAsync(CancellationToken ct) => await RunAlone.TryAsync(db, RunLockKey, async () =>
    {
        List<(long Id, string Shop)> behind;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            behind = (await conn.QueryAsync<(long, string)>(new CommandDefinition("""
                SELECT t.id, t.shop_domain FROM tiers t JOIN shops s ON s.shop_domain = t.shop_domain AND s.state = 'installed'
                WHERE t.segment_id IS NOT NULL AND (t.segment_tag IS DISTINCT FROM t.customer_tag OR t.segment_moved_from IS NOT NULL)
                  AND t.customer_tag IS NOT NULL AND t.archived_at IS NULL
                ORDER BY t.id LIMIT 100
                """, cancellationToken: ct))).ToList();
        }
        var moved = 0;
        foreach (var (id, shop) in behind)
        {
            try
            {
                await EnsureAsync(shop, id, TimeSpan.FromSeconds(5), ct);
                moved++;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                LogNotMoved(shop, id, e.Message); // tried again on the next run
            }
        }
        return moved;
    }, ct) ?? 0;

    /// <summary>
    /// The tier's segment was made again (the merchant deleted the old one): its campaigns' discounts still name the old one, so
    /// each live one is moved onto the new (add and remove are idempotent). True when every one moved (a discount deleted in Shopify
    /// counts as moved); a failure is logged and left to the job, never failing the campaign that found the segment gone.
    /// </summary>
    private async Task<bool> RepointAsync(NpgsqlConnection conn, string shop, long tierId, string old, string id, CancellationToken ct)
    {
        var live = await conn.QueryAsync<string>(new CommandDefinition("""
            SELECT discount_id FROM campaigns WHERE tier_id = @tierId AND shop_domain = @shop AND discount_id IS NOT NULL
              AND state IN (@generating, @active)
            """, new
        {
            tierId, shop, generating = Campaigns.CampaignState.Generating, active = Campaigns.CampaignState.Active,
        }, cancellationToken: ct));
        var all = true;
        foreach (var discountId in live)
        {
            try
            {
                await discounts.MoveToSegmentAsync(shop, discountId, old, id, ct);
            }
            catch (Exception e) when (e is ShopifyUserErrorException or ShopifyUnavailableException or ShopifyGraphQLException
                                          && !ct.IsCancellationRequested)
            {
                all = false;
                LogNotRepointed(shop, tierId, discountId, e.Message);
            }
        }
        if (all) LogRepointed(shop, tierId, old, id);
        return all;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Tier {TierId} of {Shop} is Shopify segment {SegmentId} on tag {Tag}")]
    private partial void LogSegment(string shop, long tierId, string segmentId, string tag);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Segment of tier {TierId} of {Shop} not moved to its tag yet: {Error}")]
    private partial void LogNotMoved(string shop, long tierId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Discount {DiscountId} of tier {TierId} of {Shop} not moved to its new segment yet: {Error}")]
    private partial void LogNotRepointed(string shop, long tierId, string discountId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unlocking the segment of tier {TierId} of {Shop} failed: {Error}")]
    private partial void LogUnlockFailed(string shop, long tierId, string error);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Segment {Old} of tier {TierId} of {Shop} is gone from Shopify; its live campaigns now use segment {SegmentId}")]
    private partial void LogRepointed(string shop, long tierId, string old, string segmentId);
}
