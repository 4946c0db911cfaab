using System.Net;
using System.Security.Cryptography;
using System.Text.Encodings.Web;

namespace Loyalty.ShopifyApp.Features.Install;

/// <summary>
/// The authorization code grant, for standalone installs and <c>use_legacy_install_flow</c>.
/// <c>GET /auth?shop=…</c> redirects to Shopify's authorize page with a single-use <c>state</c> that is
/// stored server-side and bound to this browser by a protected, HttpOnly cookie;
/// <c>GET /auth/callback</c> checks state, the query HMAC, the shop and the timestamp, then exchanges the code.
/// </summary>
public static partial class AuthorizationCodeGrant
{
    private const string StateCookie = "loyalty_oauth_state";
    private static readonly TimeSpan StateLifetime = TimeSpan.FromMinutes(10);

    public static IEndpointRouteBuilder MapAuthorizationCodeGrant(this IEndpointRouteBuilder app)
    {
        var auth = app.MapGroup("/auth");
        auth.MapGet("/", BeginAsync)
            .ProblemCodes(StatusCodes.Status400BadRequest, "invalid_shop")
            .ProblemCodes(StatusCodes.Status401Unauthorized, "invalid_hmac");
        auth.MapGet("/callback", CallbackAsync)
            .ProblemCodes(StatusCodes.Status400BadRequest, "invalid_shop", "missing_code")
            .ProblemCodes(StatusCodes.Status401Unauthorized, "invalid_hmac", "stale_request", "invalid_state")
            .ProblemCodes(StatusCodes.Status502BadGateway, "code_exchange_failed")
            .ProblemCodes(StatusCodes.Status503ServiceUnavailable, "shopify_unavailable");
        return app;
    }

    private static async Task<Results<RedirectHttpResult, ContentHttpResult, ProblemHttpResult>> BeginAsync(
        HttpContext http, NpgsqlDataSource db, IDataProtectionProvider dp, IOptions<ShopifyOptions> options,
        TimeProvider clock, ILoggerFactory loggers, CancellationToken ct)
    {
        var o = options.Value;
        if (!ShopDomain.TryNormalize(http.Request.Query["shop"], out var shop))
        {
            return Problems.BadRequest("invalid_shop", "The shop parameter must be a *.myshopify.com domain.");
        }
        // Install links from Shopify are signed; a signature that is present must be right.
        if (http.Request.Query.ContainsKey("hmac") && !ShopifySignatures.IsValidAdminQuery(http.Request.Query, o.Secrets()))
        {
            return Problems.Unauthorized("invalid_hmac", "The request's HMAC does not match.");
        }

        var state = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(24));
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                DELETE FROM oauth_states WHERE expires_at < @now;
                INSERT INTO oauth_states (state, shop_domain, expires_at) VALUES (@state, @shop, @expires);
                """, new { state, shop, now = clock.GetUtcNow(), expires = clock.GetUtcNow() + StateLifetime }, cancellationToken: ct));
        }

        http.Response.Cookies.Append(StateCookie, Protector(dp).Protect($"{state}|{shop}"), new CookieOptions
        {
            HttpOnly = true,
            Secure = true, // browsers accept Secure cookies on http://localhost too
            SameSite = SameSiteMode.Lax, // Shopify's redirect back is a top-level GET
            Path = "/auth",
            MaxAge = StateLifetime,
        });

        var authorize = $"{o.ShopBaseUrl(shop)}/admin/oauth/authorize" +
                        $"?client_id={Uri.EscapeDataString(o.ApiKey)}" +
                        $"&scope={Uri.EscapeDataString(o.Scopes)}" +
                        $"&redirect_uri={Uri.EscapeDataString(o.AppUrl.TrimEnd('/') + "/auth/callback")}" +
                        $"&state={state}";
        LogBegin(loggers.CreateLogger(typeof(AuthorizationCodeGrant)), shop);

        // Inside the admin iframe the authorize page refuses to render: break out to the top window.
        if (http.Request.Query["embedded"] == "1")
        {
            var target = JavaScriptEncoder.Default.Encode(authorize);
            return TypedResults.Content(
                $"<!doctype html><meta charset=utf-8><title>Redirecting…</title><script>window.top.location.href = \"{target}\";</script>",
                "text/html");
        }
        return TypedResults.Redirect(authorize);
    }

    private static async Task<Results<RedirectHttpResult, ProblemHttpResult>> CallbackAsync(
        HttpContext http, NpgsqlDataSource db, IDataProtectionProvider dp, IOptions<ShopifyOptions> options,
        ShopInstallation installation, TimeProvider clock, ILoggerFactory loggers, CancellationToken ct)
    {
        var o = options.Value;
        var log = loggers.CreateLogger(typeof(AuthorizationCodeGrant));
        var q = http.Request.Query;

        if (q["shop"].Count != 1 || !ShopDomain.TryNormalize(q["shop"], out var shop))
        {
            return Problems.BadRequest("invalid_shop", "The shop parameter must be a *.myshopify.com domain.");
        }
        if (!ShopifySignatures.IsValidAdminQuery(q, o.Secrets()))
        {
            LogRefused(log, shop, "HMAC mismatch");
            return Problems.Unauthorized("invalid_hmac", "The callback's HMAC does not match.");
        }
        if (!long.TryParse(q["timestamp"], out var ts) || Math.Abs(clock.GetUtcNow().ToUnixTimeSeconds() - ts) > o.SignatureMaxAgeSeconds)
        {
            LogRefused(log, shop, "timestamp outside the window");
            return Problems.Unauthorized("stale_request", "The callback is too old; start the installation again.");
        }

        var state = q["state"].ToString();
        string? bound = null;
        try
        {
            if (http.Request.Cookies.TryGetValue(StateCookie, out var cookie)) bound = Protector(dp).Unprotect(cookie);
        }
        catch (CryptographicException)
        {
            bound = null;
        }
        http.Response.Cookies.Delete(StateCookie, new CookieOptions { Path = "/auth", Secure = true, HttpOnly = true, SameSite = SameSiteMode.Lax });
        if (state.Length == 0 || bound != $"{state}|{shop}")
        {
            LogRefused(log, shop, "state does not match this browser");
            return Problems.Unauthorized("invalid_state", "This installation was not started from this browser; start it again.");
        }
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            var consumed = await conn.ExecuteAsync(new CommandDefinition(
                "DELETE FROM oauth_states WHERE state = @state AND shop_domain = @shop AND expires_at > @now",
                new { state, shop, now = clock.GetUtcNow() }, cancellationToken: ct));
            if (consumed != 1)
            {
                LogRefused(log, shop, "state already used or expired");
                return Problems.Unauthorized("invalid_state", "This installation link was already used or has expired; start it again.");
            }
        }

        var code = q["code"].ToString();
        if (code.Length is 0 or > 512)
        {
            return Problems.BadRequest("missing_code", "The callback carries no authorization code.");
        }
        try
        {
            await installation.CompleteAuthorizationCodeAsync(shop, code, ct);
        }
        catch (ShopifyGrantRejectedException e)
        {
            LogRefused(log, shop, $"code exchange rejected ({e.Error})");
            return Problems.Create((int)HttpStatusCode.BadGateway, "code_exchange_failed",
                "Shopify did not accept the authorization code; start the installation again.");
        }
        catch (ShopifyUnavailableException)
        {
            return Problems.Unavailable("shopify_unavailable", "Shopify could not be reached; start the installation again shortly.");
        }

        return TypedResults.Redirect($"{o.ShopBaseUrl(shop)}/admin/apps/{Uri.EscapeDataString(o.ApiKey)}");
    }

    private static IDataProtector Protector(IDataProtectionProvider dp) =>
        dp.CreateProtector("Loyalty.OAuthState.v1").ToTimeLimitedDataProtector().ToTimeLimited(StateLifetime);

    private static IDataProtector ToTimeLimited(this ITimeLimitedDataProtector protector, TimeSpan lifetime) =>
        new LifetimeProtector(protector, lifetime);

    /// <summary>Protects with an expiry so an old cookie cannot be replayed even if its row were still there.</summary>
    private sealed class LifetimeProtector(ITimeLimitedDataProtector inner, TimeSpan lifetime) : IDataProtector
    {
        public IDataProtector CreateProtector(string purpose) => new LifetimeProtector(inner.CreateProtector(purpose), lifetime);
        public byte[] Protect(byte[] plaintext) => inner.Protect(plaintext, lifetime);
        public byte[] Unprotect(byte[] protectedData) => inner.Unprotect(protectedData, out _);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Starting the authorization code grant for {Shop}")]
    private static partial void LogBegin(ILogger logger, string shop);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused OAuth callback for {Shop}: {Reason}")]
    private static partial void LogRefused(ILogger logger, string shop, string reason);
}
