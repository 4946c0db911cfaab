using System.Text.RegularExpressions;

namespace Loyalty.ShopifyApp.Features.Storefront.MyPage;

/// <summary>
/// <c>GET /proxy</c> (the storefront's <c>/apps/loyalty</c>): My Page, answered as Liquid (<c>application/liquid</c>)
/// so Shopify renders it inside the shop's theme. Nothing about the customer is written into the Liquid (no
/// template injection through customer data): the page's script loads everything from <c>/proxy/api/*</c>.
/// Plain HTML, CSS and JS, inlined so the storefront makes one request; all of it sits in Liquid raw blocks.
/// The proxy's query does not say the storefront's language, so the page carries its markup in every language
/// (<c>i18n/*.json</c>) and the only Liquid Shopify runs picks one by <c>request.locale</c>: English for any other.
/// Besides that, Shopify fills in its own routes (<see cref="Routes"/>), which carry the storefront's language.
/// </summary>
public static partial class MyPageEndpoint
{
    public const string Page = "my-page";

    /// <summary>The storefront's language (<c>ja</c> of <c>ja</c> or <c>pt</c> of <c>pt-BR</c>), for the case below.</summary>
    public const string LanguageOfRequest = "{%- assign lp_language = request.locale.iso_code | split: '-' | first -%}";

    /// <summary>
    /// Shopify's routes in the storefront's language, as the page's links need them: the shop's login
    /// (<c>/ja/account/login</c> in Japanese; a hard-coded <c>/account/login</c> is the primary language's) and the prefix
    /// that brings the customer back to My Page in the same language (<c>%2Fja</c>; nothing for the primary language).
    /// </summary>
    public static readonly IReadOnlyList<(string Token, string Liquid)> Routes =
    [
        ("__LOGIN_URL__", "{{ routes.account_login_url }}"),
        ("__LOCALE_ROOT__", "{%- unless routes.root_url == '/' -%}{{ routes.root_url | url_encode }}{%- endunless -%}"),
    ];

    private static readonly Lazy<string> Template = new(Build);

    [GeneratedRegex(@"^/[a-z0-9/_-]{1,100}\z")]
    private static partial Regex PathPrefix();

    public static RouteGroupBuilder MapMyPage(this RouteGroupBuilder proxy)
    {
        proxy.MapGet("/", (HttpContext http) =>
        {
            var p = http.Proxy();
            var returnTo = p.PathPrefix is { } prefix && PathPrefix().IsMatch(prefix) ? prefix : "/account";
            var page = Template.Value
                .Replace("__LOGGED_IN__", p.CustomerId is null ? "false" : "true", StringComparison.Ordinal)
                .Replace("__RETURN_URL__", Uri.EscapeDataString(returnTo), StringComparison.Ordinal);
            http.Response.Headers.CacheControl = "private, no-store";
            return Results.Text(page, "application/liquid; charset=utf-8");
        }).ExcludeFromDescription(); // a page (Liquid), not an API
        return proxy;
    }

    private static string Build()
    {
        var markup = PageAssets.Read("my-page.html");
        var liquid = new StringBuilder()
            .Append(Raw("<style>" + PageAssets.Read("my-page.css") + "</style>"))
            .Append(LanguageOfRequest)
            .Append("{%- case lp_language -%}");
        foreach (var language in PageText.Languages(Page).Where(l => l != PageText.Fallback))
        {
            liquid.Append("{%- when '").Append(language).Append("' -%}").Append(Raw(PageText.Localize(markup, Page, language)));
        }
        return liquid.Append("{%- else -%}").Append(Raw(PageText.Localize(markup, Page, PageText.Fallback))).Append("{%- endcase -%}")
            .Append(Raw("<script>" + PageAssets.Read("my-page.js") + "</script>"))
            .ToString();
    }

    // Shopify renders nothing inside a raw block, so no text of ours can turn into Liquid; only "endraw" could end it early.
    // The routes' tokens close the block around Shopify's own Liquid for them.
    private static string Raw(string content) => content.Contains("endraw", StringComparison.Ordinal)
        ? throw new InvalidOperationException("My Page's assets must not contain \"endraw\".")
        : Routes.Aggregate("{% raw %}" + content + "{% endraw %}",
            (page, route) => page.Replace(route.Token, "{% endraw %}" + route.Liquid + "{% raw %}", StringComparison.Ordinal));
}
