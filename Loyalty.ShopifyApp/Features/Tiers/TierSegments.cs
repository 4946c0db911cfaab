using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Db;

namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// A tier as a Shopify customer segment, so a campaign can be limited to its members: they carry the tier's customer tag (the
/// customer-tags job), the segment <c>customer_tags CONTAINS 'tag'</c> holds exactly them, and the campaign's discount has that segment
/// as its context. One segment per tier, named <see cref="Name"/>: Shopify's segment names are unique, so a create whose answer was
/// lost is found again by its name, never made twice. When the tier's tag changes, the <c>tier-segments</c> job moves the segment's
/// query onto the new tag (the row says which tag the segment names now), so the tier's campaigns follow it.
/// </summary>
public sealed partial class TierSegments(NpgsqlDataSource db, ShopifyGraphQLClient shopify, ILogger<TierSegments> logger)
{
    public const string RecurringId = "tier-segments";

    private const string RunLockKey = "tier-segments:run";

    /// <summary>The segment's name in the shop's customer segments.</summary>
    public static string Name(long tierId) => $"Loyalty VIP tier {tierId}";

    /// <summary>The segment's query: the tag's characters (letters, digits, spaces, '-', '_') need no escaping.</summary>
    public static string Query(string tag) => $"customer_tags CONTAINS '{tag}'";

    /// <summary>Why a tier cannot be a segment (it is gone, archived, or has no tag): a campaign for it fails, nothing is retried.</summary>
    public sealed class NotASegmentException(string message) : Exception(message);

    private sealed record Tier(string? CustomerTag, string? SegmentId, string? SegmentTag, bool Archived);

    private sealed record Found(string Id, string Name, string Query);

    /// <summary>The id of the segment of <paramref name="tierId"/>'s members, created or moved onto the tier's tag first.</summary>
    public async Task<string> EnsureAsync(string shop, long tierId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        Tier? t;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            t = await conn.QuerySingleOrDefaultAsync<Tier>(new CommandDefinition("""
                SELECT customer_tag, segment_id, segment_tag, archived_at IS NOT NULL AS archived
                FROM tiers WHERE id = @tierId AND shop_domain = @shop
                """, new { shop, tierId }, cancellationToken: ct));
        }
        if (t is null || t.Archived) throw new NotASegmentException($"Tier {tierId} is not an active tier of this shop.");
        if (t.CustomerTag is not { } tag)
        {
            throw new NotASegmentException($"Tier {tierId} has no customer tag, so Shopify cannot tell its members; give it one.");
        }
        if (t.SegmentId is { } id && t.SegmentTag == tag) return id;

        // None yet, the tag moved, or the merchant deleted the segment in Shopify: find it by its name, else create it.
        var segment = t.SegmentId is { } known && await UpdateAsync(shop, known, tag, maxThrottleWait, ct) ? known : null;
        if (segment is null && await FindAsync(shop, tierId, maxThrottleWait, ct) is { } found)
        {
            segment = found.Query == Query(tag) || await UpdateAsync(shop, found.Id, tag, maxThrottleWait, ct) ? found.Id
                : throw new ShopifyUserErrorException("segmentUpdate", [(null, $"Segment {found.Id} could not be moved onto tag {tag}.")]);
        }
        segment ??= await CreateAsync(shop, tierId, tag, maxThrottleWait, ct);
        await using (var conn = await db.OpenConnectionAsync(CancellationToken.None))
        {
            // Only the tag read above is recorded: if the tier's tag changed meanwhile, the job moves the segment again.
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE tiers SET segment_id = @segment, segment_tag = @tag WHERE id = @tierId",
                new { segment, tag, tierId }, cancellationToken: CancellationToken.None));
        }
        LogSegment(shop, tierId, segment, tag);
        return segment;
    }

    /// <summary>The job: every tier whose segment names another tag than the tier's is moved onto it (one run at a time).</summary>
    [AutomaticRetry(Attempts = 0)]
    public async Task<int> SyncDueAsync(CancellationToken ct) => await RunAlone.TryAsync(db, RunLockKey, async () =>
    {
        List<(long Id, string Shop)> behind;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            behind = (await conn.QueryAsync<(long, string)>(new CommandDefinition("""
                SELECT t.id, t.shop_domain FROM tiers t JOIN shops s ON s.shop_domain = t.shop_domain AND s.state = 'installed'
                WHERE t.segment_id IS NOT NULL AND t.segment_tag IS DISTINCT FROM t.customer_tag AND t.customer_tag IS NOT NULL
                  AND t.archived_at IS NULL
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

    private async Task<Found?> FindAsync(string shop, long tierId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await shopify.QueryAsync(shop, """
            query FindTierSegment($query: String!) { segments(first: 10, query: $query) { nodes { id name query } } }
            """, new { query = $"name:'{Name(tierId)}'" }, maxThrottleWait, ct);
        return data.GetProperty("segments").GetProperty("nodes").Deserialize<List<Found>>(JsonSerializerOptions.Web)!
            .FirstOrDefault(s => s.Name == Name(tierId)); // the search matches words; the name must be this one exactly
    }

    private async Task<string> CreateAsync(string shop, long tierId, string tag, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await shopify.MutateAsync(shop, """
            mutation CreateTierSegment($name: String!, $query: String!) {
              segmentCreate(name: $name, query: $query) { segment { id } userErrors { field message } }
            }
            """, new { name = Name(tierId), query = Query(tag) }, maxThrottleWait, ct);
        var payload = data.GetProperty("segmentCreate");
        if (Errors(payload) is { Count: > 0 } errors)
        {
            // Taken: another run made it meanwhile (or an earlier answer was lost), so it is found now.
            if (await FindAsync(shop, tierId, maxThrottleWait, ct) is { } made && made.Query == Query(tag)) return made.Id;
            throw new ShopifyUserErrorException("segmentCreate", errors);
        }
        return payload.GetProperty("segment").GetProperty("id").GetString()!;
    }

    /// <summary>Points the segment at <paramref name="tag"/>; false when Shopify refuses (the merchant deleted it).</summary>
    private async Task<bool> UpdateAsync(string shop, string segmentId, string tag, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await shopify.MutateAsync(shop, """
            mutation UpdateTierSegment($id: ID!, $query: String!) {
              segmentUpdate(id: $id, query: $query) { segment { id } userErrors { field message } }
            }
            """, new { id = segmentId, query = Query(tag) }, maxThrottleWait, ct);
        return Errors(data.GetProperty("segmentUpdate")).Count == 0;
    }

    private static List<(string? Code, string Message)> Errors(JsonElement payload) =>
        [.. payload.GetProperty("userErrors").EnumerateArray().Select(e => ((string?)null, e.GetProperty("message").GetString() ?? ""))];

    [LoggerMessage(Level = LogLevel.Information, Message = "Tier {TierId} of {Shop} is Shopify segment {SegmentId} on tag {Tag}")]
    private partial void LogSegment(string shop, long tierId, string segmentId, string tag);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Segment of tier {TierId} of {Shop} not moved to its tag yet: {Error}")]
    private partial void LogNotMoved(string shop, long tierId, string error);
}
