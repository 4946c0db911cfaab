using System.Security.Cryptography;
using Microsoft.Extensions.Primitives;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// The three ways Shopify signs what it sends. All comparisons are constant-time and every configured
/// secret (current, and previous during a rotation) is tried.
/// </summary>
public static class ShopifySignatures
{
    /// <summary>Webhooks: base64 HMAC-SHA256 of the raw body bytes, in X-Shopify-Hmac-Sha256.</summary>
    public static bool IsValidWebhook(ReadOnlySpan<byte> body, string? headerValue, IEnumerable<string> secrets)
    {
        if (string.IsNullOrEmpty(headerValue) || headerValue.Length != 44) return false;
        var given = Encoding.ASCII.GetBytes(headerValue);

        // Compare the canonical base64 text: decoding would accept other spellings of the same bytes.
        var ok = false;
        Span<byte> mac = stackalloc byte[32];
        foreach (var secret in secrets)
        {
            HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body, mac);
            ok |= CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Convert.ToBase64String(mac)), given);
        }
        return ok;
    }

    /// <summary>
    /// OAuth install/callback and admin launch queries: lowercase hex HMAC of every parameter but
    /// <c>hmac</c>, sorted by key, as <c>key=value</c> joined with <c>&amp;</c>.
    /// </summary>
    public static bool IsValidAdminQuery(IEnumerable<KeyValuePair<string, StringValues>> query, IEnumerable<string> secrets)
    {
        var pairs = query.ToList();
        var hmacs = pairs.Where(p => p.Key == "hmac").SelectMany(p => p.Value).ToList();
        if (hmacs.Count != 1 || string.IsNullOrEmpty(hmacs[0])) return false;

        var message = string.Join("&", pairs
            .Where(p => p.Key != "hmac" && p.Key != "signature")
            .OrderBy(p => p.Key, StringComparer.Ordinal)
            .Select(p => $"{p.Key}={string.Join(",", p.Value.ToArray())}"));
        return MatchesHex(message, hmacs[0]!, secrets);
    }

    /// <summary>
    /// App proxy: hex HMAC of every parameter but <c>signature</c> as <c>key=value</c> (repeated keys'
    /// values joined with a comma), the strings sorted and concatenated with no separator.
    /// </summary>
    public static bool IsValidAppProxyQuery(IEnumerable<KeyValuePair<string, StringValues>> query, IEnumerable<string> secrets)
    {
        var pairs = query.ToList();
        var signatures = pairs.Where(p => p.Key == "signature").SelectMany(p => p.Value).ToList();
        if (signatures.Count != 1 || string.IsNullOrEmpty(signatures[0])) return false;

        var message = string.Concat(pairs
            .Where(p => p.Key != "signature")
            .Select(p => $"{p.Key}={string.Join(",", p.Value.ToArray())}")
            .OrderBy(s => s, StringComparer.Ordinal));
        return MatchesHex(message, signatures[0]!, secrets);
    }

    public static string SignWebhook(ReadOnlySpan<byte> body, string secret) =>
        Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), body));

    public static string HexHmac(string message, string secret) =>
        Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(message)));

    private static bool MatchesHex(string message, string givenHex, IEnumerable<string> secrets)
    {
        if (givenHex.Length != 64) return false;
        var given = Encoding.ASCII.GetBytes(givenHex.ToLowerInvariant());
        var ok = false;
        foreach (var secret in secrets)
        {
            ok |= CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(HexHmac(message, secret)), given);
        }
        return ok;
    }
}
