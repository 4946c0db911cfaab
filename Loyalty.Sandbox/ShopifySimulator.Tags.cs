using System.Text.Json.Nodes;

namespace Loyalty.Sandbox;

/// <summary>Customer tags (<c>tagsAdd</c>, <c>tagsRemove</c>): a customer's tags as Shopify holds them, the ground truth of tier tags.</summary>
public sealed partial class ShopifySimulator
{
    private readonly Dictionary<(string Shop, string Id), SortedSet<string>> _tags = [];

    /// <summary>The tags <paramref name="customerId"/> of <paramref name="shop"/> carries now.</summary>
    public IReadOnlyList<string> CustomerTags(string shop, long customerId)
    {
        lock (_gate) return _tags.TryGetValue((shop, $"gid://shopify/Customer/{customerId}"), out var t) ? [.. t] : [];
    }

    private object TagsAdd(string shop, JsonObject v) => ChangeTags(shop, v, "tagsAdd", (set, tags) => set.UnionWith(tags));

    private object TagsRemove(string shop, JsonObject v) => ChangeTags(shop, v, "tagsRemove", (set, tags) => set.ExceptWith(tags));

    private object ChangeTags(string shop, JsonObject v, string field, Action<SortedSet<string>, IEnumerable<string>> change)
    {
        var id = v["id"]?.GetValue<string>() ?? "";
        var tags = (v["tags"] as JsonArray)?.Select(t => t?.GetValue<string>() ?? "").ToList() ?? [];
        if (!id.StartsWith("gid://shopify/Customer/", StringComparison.Ordinal))
        {
            return new Dictionary<string, object> { [field] = new { node = (object?)null, userErrors = new[] { new { field = new[] { "id" },
                message = "Invalid id" } } } };
        }
        if (!_tags.TryGetValue((shop, id), out var set)) _tags[(shop, id)] = set = new SortedSet<string>(StringComparer.OrdinalIgnoreCase);
        change(set, tags);
        return new Dictionary<string, object> { [field] = new { node = new { id }, userErrors = Array.Empty<object>() } };
    }
}
