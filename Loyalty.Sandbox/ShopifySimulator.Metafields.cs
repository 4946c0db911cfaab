using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Loyalty.Sandbox;

/// <summary>The customer metafield <c>loyalty.coupons</c>, written only with the compareDigest of what is there (STALE_OBJECT otherwise).</summary>
public sealed partial class ShopifySimulator
{
    public string? CouponsMetafield(long customerId)
    {
        lock (_gate) return _metafields.TryGetValue($"gid://shopify/Customer/{customerId}", out var m) ? m.Value : null;
    }

    /// <summary>
    /// Takes the entry naming <paramref name="code"/> out of the customer's list, as a lost or overwritten write of the list would leave it
    /// (the soak's <c>--broken stale-list</c>); false when the list does not name it.
    /// </summary>
    public bool DropFromCouponsMetafield(long customerId, string code)
    {
        lock (_gate)
        {
            var owner = $"gid://shopify/Customer/{customerId}";
            if (!_metafields.TryGetValue(owner, out var m) || JsonNode.Parse(m.Value) is not JsonArray items) return false;
            var entry = items.FirstOrDefault(i => string.Equals(i?["code"]?.GetValue<string>(), code, StringComparison.OrdinalIgnoreCase));
            if (entry is null) return false;
            items.Remove(entry);
            Store(owner, items.ToJsonString());
            return true;
        }
    }

    private object LoyaltyCoupons(string shop, JsonObject v)
    {
        return _metafields.TryGetValue(v["id"]!.GetValue<string>(), out var m)
            ? new { customer = new { metafield = (object?)new { value = m.Value, compareDigest = m.Digest } } }
            : new { customer = new { metafield = (object?)null } };
    }

    private object SetLoyaltyCoupons(string shop, JsonObject v)
    {
        var m = v["metafields"]![0]!;
        var owner = m["ownerId"]!.GetValue<string>();
        var digest = m["compareDigest"]?.GetValue<string>();
        var current = _metafields.TryGetValue(owner, out var existing) ? existing.Digest : null;
        if (digest != current)
        {
            return new { metafieldsSet = new { metafields = Array.Empty<object>(),
                userErrors = Errors(("STALE_OBJECT", "The resource has been updated since it was loaded.")) } };
        }
        Store(owner, m["value"]!.GetValue<string>());
        return new { metafieldsSet = new { metafields = new[] { new { id = NewId("Metafield") } }, userErrors = Array.Empty<object>() } };
    }

    /// <summary>The list's new value with its digest (what a write's compareDigest must name next); the caller holds the gate.</summary>
    private void Store(string owner, string value) =>
        _metafields[owner] = (value, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value))));
}
