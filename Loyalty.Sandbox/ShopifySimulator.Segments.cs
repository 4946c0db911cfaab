using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Loyalty.Sandbox;

/// <summary>
/// Customer segments (<c>segmentCreate</c>, <c>segmentUpdate</c>, <c>segments</c>) as Shopify holds them, for discounts limited to a
/// segment: names are unique per shop, and a segment's members are the customers its query selects from the tags held here. Only
/// the query form <c>customer_tags CONTAINS 'tag'</c> is understood; any other is refused, as an invalid query would be.
/// </summary>
public sealed partial class ShopifySimulator
{
    public sealed record Segment(string Id, string Shop, string Name, string Query);

    private readonly Dictionary<string, Segment> _segments = [];

    [GeneratedRegex(@"^customer_tags CONTAINS '([^']+)'\z")]
    private static partial Regex TagQuery();

    /// <summary>The live segments of <paramref name="shop"/>.</summary>
    public IReadOnlyList<Segment> Segments(string shop)
    {
        lock (_gate) return [.. _segments.Values.Where(s => s.Shop == shop)];
    }

    /// <summary>Whether <paramref name="customerId"/> is in the segment now, by its query over the customer's tags.</summary>
    public bool InSegment(string segmentId, long customerId)
    {
        lock (_gate) return IsMember(segmentId, customerId);
    }

    /// <summary>As a merchant deleting the segment in Shopify's admin: discounts limited to it are open to no one.</summary>
    public bool DeleteSegment(string segmentId)
    {
        lock (_gate) return _segments.Remove(segmentId);
    }

    /// <summary>Called under the gate.</summary>
    private bool IsMember(string segmentId, long customerId) =>
        _segments.TryGetValue(segmentId, out var s) && TagQuery().Match(s.Query) is { Success: true } m
        && _tags.TryGetValue((s.Shop, $"gid://shopify/Customer/{customerId}"), out var tags) && tags.Contains(m.Groups[1].Value);

    private object CreateSegment(string shop, JsonObject v)
    {
        var name = v["name"]?.GetValue<string>() ?? "";
        var query = v["query"]?.GetValue<string>() ?? "";
        if (SegmentRefusal(shop, name, query, null) is { } refusal) return new { segmentCreate = refusal };
        var s = new Segment(NewId("Segment"), shop, name, query);
        _segments[s.Id] = s;
        return new { segmentCreate = new { segment = new { id = s.Id }, userErrors = Array.Empty<object>() } };
    }

    private object UpdateSegment(string shop, JsonObject v)
    {
        var id = v["id"]?.GetValue<string>() ?? "";
        if (!_segments.TryGetValue(id, out var s) || s.Shop != shop)
        {
            return new { segmentUpdate = new { segment = (object?)null, userErrors = new[] { new { field = new[] { "id" },
                message = "Segment does not exist" } } } };
        }
        var updated = s with { Name = v["name"]?.GetValue<string>() ?? s.Name, Query = v["query"]?.GetValue<string>() ?? s.Query };
        if (SegmentRefusal(shop, updated.Name, updated.Query, id) is { } refusal) return new { segmentUpdate = refusal };
        _segments[id] = updated;
        return new { segmentUpdate = new { segment = new { id }, userErrors = Array.Empty<object>() } };
    }

    private object? SegmentRefusal(string shop, string name, string query, string? self)
    {
        string? field = null, message = null;
        if (name.Length is 0 or > 255) (field, message) = ("name", "Name is invalid");
        else if (_segments.Values.Any(s => s.Shop == shop && s.Id != self && string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase)))
            (field, message) = ("name", "Name has already been taken");
        else if (!TagQuery().IsMatch(query)) (field, message) = ("query", "Query is invalid");
        return field is null ? null : new { segment = (object?)null, userErrors = new[] { new { field = new[] { field }, message } } };
    }

    /// <summary><c>segment(id)</c>: null when it is gone or another shop's.</summary>
    private object SegmentById(string shop, JsonObject v) =>
        _segments.TryGetValue(v["id"]?.GetValue<string>() ?? "", out var s) && s.Shop == shop
            ? new { segment = (object?)new { id = s.Id, name = s.Name, query = s.Query } }
            : new { segment = (object?)null };

    /// <summary>As a merchant editing the segment in Shopify's admin: its query replaced.</summary>
    public void ChangeSegmentQuery(string segmentId, string query)
    {
        lock (_gate) _segments[segmentId] = _segments[segmentId] with { Query = query };
    }

    /// <summary><c>segments(first, query)</c>: a <c>name:'…'</c> term keeps the segments whose name contains the phrase.</summary>
    private object SegmentsPage(string shop, JsonObject v)
    {
        var match = Regex.Match(v["query"]?.GetValue<string>() ?? "", @"name:'([^']*)'");
        var first = v["first"]?.GetValue<int>() ?? 50;
        var nodes = _segments.Values.Where(s => s.Shop == shop
                && (!match.Success || s.Name.Contains(match.Groups[1].Value, StringComparison.OrdinalIgnoreCase)))
            .Take(first).Select(s => new { id = s.Id, name = s.Name, query = s.Query });
        return new { segments = new { nodes } };
    }
}
