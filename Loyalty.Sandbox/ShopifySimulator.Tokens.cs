using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http;

namespace Loyalty.Sandbox;

/// <summary>The token endpoint: token exchange (verifying the session token like Shopify), refresh and code grant, issuing expiring offline
/// tokens.</summary>
public sealed partial class ShopifySimulator
{
    private async Task<IResult> AccessTokenAsync(string shop, HttpContext http)
    {
        var form = await http.Request.ReadFormAsync();
        if (form["client_id"] != _clientId || form["client_secret"] != _clientSecret) return Results.BadRequest(new { error = "invalid_client" });
        switch (form["grant_type"].ToString())
        {
            case "urn:ietf:params:oauth:grant-type:token-exchange":
                return IsValidSessionToken(form["subject_token"].ToString(), shop) ? Results.Ok(Issue(shop, first: true))
                    : Results.BadRequest(new { error = "invalid_subject_token" });
            case "refresh_token":
                lock (_gate)
                {
                    if (!_refreshTokens.Remove(form["refresh_token"].ToString(), out var owner)
                        || owner != shop) return Results.BadRequest(new { error = "invalid_grant" });
                }
                CountRefresh(shop);
                return Results.Ok(Issue(shop));
            default:
                return form["code"].Count == 1 ? Results.Ok(Issue(shop, first: true)) : Results.BadRequest(new { error = "unsupported_grant_type" });
        }
    }

    /// <summary>
    /// When set, a shop's first token (token exchange or code grant) lives a time drawn (seeded) between this and
    /// <see cref="AccessTokenSeconds"/>, as a fleet's tokens do at any moment: installed at many times before, so not all due together.
    /// </summary>
    public int? FirstTokenMinSeconds { get; set; }

    private object Issue(string shop, bool first = false)
    {
        var access = "shpat_sim_" + Guid.NewGuid().ToString("N");
        var refresh = "shprt_sim_" + Guid.NewGuid().ToString("N");
        int life;
        lock (_gate)
        {
            life = first && FirstTokenMinSeconds is { } min && min < AccessTokenSeconds
                ? _random.Next(min, AccessTokenSeconds + 1)
                : AccessTokenSeconds;
            var now = DateTimeOffset.UtcNow;
            _accessTokens[access] = (shop, now.AddSeconds(life));
            _refreshTokens[refresh] = shop;
            CountIssued(shop, now, now.AddSeconds(life));
        }
        return new
        {
            access_token = access, scope = "read_orders,write_customers,write_discounts,write_app_proxy", expires_in = life,
            refresh_token = refresh, refresh_token_expires_in = 7776000,
        };
    }

    /// <summary>HS256 with the client secret, this app as audience, dest naming the shop, not expired.</summary>
    private bool IsValidSessionToken(string jwt, string shop)
    {
        var parts = jwt.Split('.');
        if (parts.Length != 3) return false;
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(_clientSecret),
            Encoding.UTF8.GetBytes($"{parts[0]}.{parts[1]}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(parts[2]))) return false;
        var padded = parts[1].Replace('-', '+').Replace('_', '/');
        var payload = JsonNode.Parse(Convert.FromBase64String(padded.PadRight(padded.Length + (4 - padded.Length % 4) % 4, '=')))!;
        return payload["aud"]?.GetValue<string>() == _clientId && payload["dest"]?.GetValue<string>() == $"https://{shop}"
               && payload["exp"]?.GetValue<long>() > DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 10;
    }
}
