using System.Text.RegularExpressions;
using Loyalty.ShopifyApp.Infrastructure.Http;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.ShopifyApp.Features.Storefront.MyPage;

/// <summary>
/// <c>GET /proxy</c> (the storefront's <c>/apps/loyalty</c>): My Page, answered as Liquid (<c>application/liquid</c>)
/// so Shopify renders it inside the shop's theme. Nothing about the customer is written into the Liquid (no
/// template injection through customer data): the page's script loads everything from <c>/proxy/api/*</c>.
/// Plain HTML, CSS and JS, inlined so the storefront makes one request; the CSS and JS sit in Liquid raw blocks.
/// </summary>
public static partial class MyPageEndpoint
{
    private static readonly Lazy<string> Template = new(() => PageAssets.Read("my-page.html")
        .Replace("__CSS__", "{% raw %}" + PageAssets.Read("my-page.css") + "{% endraw %}", StringComparison.Ordinal)
        .Replace("__JS__", "{% raw %}" + PageAssets.Read("my-page.js") + "{% endraw %}", StringComparison.Ordinal));

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
        });
        return proxy;
    }
}
