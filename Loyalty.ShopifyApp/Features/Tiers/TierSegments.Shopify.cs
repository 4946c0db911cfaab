namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>The segment operations of the Admin API a tier's segment needs: read by id, find by name, create, change the query.</summary>
public sealed partial class TierSegments
{
    private sealed record Found(string Id, string Name, string Query);

    /// <summary>The segment as Shopify has it now; null when it is gone.</summary>
    private async Task<Found?> SegmentAsync(string shop, string id, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await shopify.QueryAsync(shop, """
            query TierSegmentState($id: ID!) { segment(id: $id) { id name query } }
            """, new { id }, maxThrottleWait, ct);
        var segment = data.GetProperty("segment");
        return segment.ValueKind == JsonValueKind.Null ? null : segment.Deserialize<Found>(JsonSerializerOptions.Web);
    }

    /// <summary>The tier's segment found by its exact name (the search matches words, so other names come back too); null if none.</summary>
    private async Task<Found?> FindAsync(string shop, long tierId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await shopify.QueryAsync(shop, """
            query FindTierSegment($query: String!) { segments(first: 250, query: $query) { nodes { id name query } } }
            """, new { query = $"name:'{Name(tierId)}'" }, maxThrottleWait, ct);
        return data.GetProperty("segments").GetProperty("nodes").Deserialize<List<Found>>(JsonSerializerOptions.Web)!
            .FirstOrDefault(s => s.Name == Name(tierId));
    }

    private async Task<string> CreateAsync(string shop, long tierId, string tag, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await shopify.MutateAsync(shop, """
            mutation CreateTierSegment($name: String!, $query: String!) {
              segmentCreate(name: $name, query: $query) { segment { id } userErrors { field message } }
            }
            """, new { name = Name(tierId), query = Query(tag) }, maxThrottleWait, ct);
        var payload = data.GetProperty("segmentCreate");
        var errors = Errors(payload);
        if (errors.Count == 0) return payload.GetProperty("segment").GetProperty("id").GetString()!;
        // Taken: an earlier create whose answer was lost, or another run meanwhile. Found now, it is brought to the tag; not found yet
        // (Shopify's search may lag its writes), the caller tries again later rather than giving up on the tier.
        if (await FindAsync(shop, tierId, maxThrottleWait, ct) is { } made)
        {
            if (made.Query != Query(tag)) await UpdateAsync(shop, made.Id, tag, maxThrottleWait, ct);
            return made.Id;
        }
        if (errors.Any(e => e.Message.Contains("taken", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ShopifyGraphQLException($"segmentCreate: {Name(tierId)} exists but is not found yet; try again later.", null);
        }
        throw new ShopifyUserErrorException("segmentCreate", errors);
    }

    /// <summary>Points the segment at <paramref name="tag"/>; a refusal (the segment went meanwhile) is tried again later.</summary>
    private async Task UpdateAsync(string shop, string segmentId, string tag, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await shopify.MutateAsync(shop, """
            mutation UpdateTierSegment($id: ID!, $query: String!) {
              segmentUpdate(id: $id, query: $query) { segment { id } userErrors { field message } }
            }
            """, new { id = segmentId, query = Query(tag) }, maxThrottleWait, ct);
        if (Errors(data.GetProperty("segmentUpdate")) is { Count: > 0 } errors)
        {
            throw new ShopifyGraphQLException($"segmentUpdate {segmentId}: {string.Join("; ", errors.Select(e => e.Message))}", null);
        }
    }

    private static List<(string? Code, string Message)> Errors(JsonElement payload) =>
        [.. payload.GetProperty("userErrors").EnumerateArray().Select(e => ((string?)null, e.GetProperty("message").GetString() ?? ""))];
}
