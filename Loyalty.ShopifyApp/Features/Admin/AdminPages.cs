using System.Net;

namespace Loyalty.ShopifyApp.Features.Admin;

/// <summary>
/// <c>GET /admin</c>: the embedded admin (the app URL Shopify opens in its admin). Plain HTML, CSS and JS with a
/// Polaris-like look and no build step. In a real shop App Bridge is loaded from Shopify's CDN and hands the
/// page a session token for every <c>/api/admin</c> call; in the sandbox the page asks <c>/sandbox/session-token</c>.
/// The page holds no data itself, so it is served without a token; framing is limited to the shop's admin, and a
/// <c>shop</c> that is not a shop domain is refused rather than written into that header.
/// It speaks the admin user's language: Shopify puts it in the app URL (<c>locale=ja</c>); English for any other.
/// </summary>
public static class AdminPages
{
    private const string AppBridge = """<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>""";

    private static readonly Lazy<Dictionary<string, string>> Templates = new(() => PageText.Languages("admin").ToDictionary(l => l,
        l => PageText.Localize(PageAssets.Read("admin.html"), "admin", l)
            .Replace("__CSS__", PageAssets.Read("admin.css"), StringComparison.Ordinal)
            .Replace("__JS__", PageAssets.Read("admin.js"), StringComparison.Ordinal)));

    public static WebApplication MapAdminPages(this WebApplication app)
    {
        var sandbox = app.Services.GetRequiredService<IOptions<ShopifyOptions>>().Value.Sandbox;
        app.MapGet("/admin", Results<ContentHttpResult, ProblemHttpResult> (HttpContext http, string? locale, IOptions<ShopifyOptions> options) =>
        {
            var o = options.Value;
            // The shop is unverified here and goes into a header: only one valid shop domain may. Shopify always opens
            // the page with one; anything else (another host, a second value, a CR/LF, CSP syntax) is refused.
            var given = http.Request.Query["shop"];
            string? validShop = null;
            if (given.Count > 1 || (given.Count == 1 && given[0] is { Length: > 0 } && !ShopDomain.TryNormalize(given[0], out validShop)))
            {
                return Problems.BadRequest("invalid_shop", "The shop parameter must be a *.myshopify.com domain.");
            }
            http.Response.Headers.ContentSecurityPolicy = o.Sandbox
                ? "frame-ancestors 'self'"
                : "frame-ancestors " + (validShop is null ? "" : $"https://{validShop} ") + "https://admin.shopify.com";
            http.Response.Headers.CacheControl = "no-store";
            var language = PageText.Choose("admin", locale);
            var page = Templates.Value[language]
                .Replace("__LOCALE__", PageText.FormatLocale(locale, language), StringComparison.Ordinal)
                .Replace("__API_KEY__", WebUtility.HtmlEncode(o.ApiKey), StringComparison.Ordinal)
                .Replace("__APP_BRIDGE__", o.Sandbox ? "" : AppBridge, StringComparison.Ordinal)
                .Replace("__SANDBOX__", o.Sandbox ? "true" : "false", StringComparison.Ordinal)
                .Replace("__SHOP__", WebUtility.HtmlEncode(validShop ?? ""), StringComparison.Ordinal);
            return TypedResults.Content(page, "text/html; charset=utf-8");
        }).ExcludeFromDescription(); // the embedded admin page
        // Shopify opens the app URL with shop, host and id_token in the query: keep them for App Bridge.
        if (!sandbox) app.MapGet("/", (HttpContext http) => Results.Redirect("/admin" + http.Request.QueryString)).ExcludeFromDescription();
        return app;
    }
}
