using System.Security.Cryptography;

namespace Loyalty.Tests.Infrastructure;

/// <summary>Makes Shopify session tokens (HS256 JWTs) the way App Bridge receives them, and broken ones.</summary>
public static class SessionTokenMinter
{
    public static string Mint(string secret, string apiKey, string shop, DateTimeOffset? now = null,
        TimeSpan? lifetime = null, TimeSpan? notBeforeOffset = null, string? issShop = null, string? dest = null,
        string alg = "HS256", string? audience = null)
    {
        var t = now ?? DateTimeOffset.UtcNow;
        var header = new Dictionary<string, object> { ["alg"] = alg, ["typ"] = "JWT" };
        var payload = new Dictionary<string, object>
        {
            ["iss"] = $"https://{issShop ?? shop}/admin",
            ["dest"] = dest ?? $"https://{shop}",
            ["aud"] = audience ?? apiKey,
            ["sub"] = "42",
            ["exp"] = (t + (lifetime ?? TimeSpan.FromMinutes(1))).ToUnixTimeSeconds(),
            ["nbf"] = (t + (notBeforeOffset ?? TimeSpan.Zero)).ToUnixTimeSeconds(),
            ["iat"] = t.ToUnixTimeSeconds(),
            ["jti"] = Guid.NewGuid().ToString(),
            ["sid"] = Guid.NewGuid().ToString("N"),
        };
        var signingInput = $"{B64(JsonSerializer.SerializeToUtf8Bytes(header))}.{B64(JsonSerializer.SerializeToUtf8Bytes(payload))}";
        var signature = alg == "none" ? "" : B64(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), Encoding.UTF8.GetBytes(signingInput)));
        return $"{signingInput}.{signature}";
    }

    private static string B64(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
