using System.Text.RegularExpressions;
using Loyalty.Sandbox;
using Microsoft.AspNetCore.Hosting.Server;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// The storefront emulator at <c>/sandbox/storefront/apps/loyalty/*</c>: Shopify's app proxy (a signed forward to
/// <c>/proxy/*</c>) and the little Liquid that My Page uses, rendered in a plain layout.
/// </summary>
public static partial class SandboxPages
{
    /// <summary>
    /// What Shopify's app proxy does with a storefront request to <c>/apps/loyalty/*</c>: forward it to the app's
    /// proxy URL with the signed query (the logged-in customer from the storefront session, here a cookie), drop
    /// cookies, and render a Liquid answer inside the theme (here a plain layout) in the storefront's language.
    /// </summary>
    private static async Task ForwardAsync(HttpContext http, string? rest, IOptions<SandboxOptions> o, IOptions<ShopifyOptions> shopify,
        IHttpClientFactory clients, IServer server, CancellationToken ct)
    {
        // From the path only (/sandbox/storefront/ja/apps/loyalty): a locale in the query is the page's, passed on signed.
        var locale = http.GetRouteValue("locale") as string;
        if (locale is not null && !StorefrontLocale().IsMatch(locale))
        {
            http.Response.StatusCode = StatusCodes.Status404NotFound;
            return;
        }
        long? customer = http.Request.Cookies.TryGetValue(CustomerCookie, out var c) && long.TryParse(c, out var id) ? id : null;
        var query = ShopifyOutbound.AppProxyQuery(o.Value.DemoShop, customer, shopify.Value.ApiSecret,
            http.Request.Query.SelectMany(q => q.Value.Select(v => new KeyValuePair<string, string>(q.Key, v ?? ""))));
        var target = new Uri(SelfBase(server), "/proxy/" + (rest ?? "") + "?" + query);
        using var forward = new HttpRequestMessage(new HttpMethod(http.Request.Method), target);
        if (http.Request.ContentLength > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            forward.Content = new StreamContent(http.Request.Body);
            if (http.Request.ContentType is { } type) forward.Content.Headers.TryAddWithoutValidation("Content-Type", type);
        }
        foreach (var header in new[] { "Accept", "Idempotency-Key", "User-Agent" })
        {
            if (http.Request.Headers.TryGetValue(header, out var value)) forward.Headers.TryAddWithoutValidation(header, value.ToArray());
        }
        using var response = await clients.CreateClient(HttpClientName).SendAsync(forward, ct);
        http.Response.StatusCode = (int)response.StatusCode;
        if (response.Headers.RetryAfter is { } retryAfter) http.Response.Headers.RetryAfter = retryAfter.ToString();
        var contentType = response.Content.Headers.ContentType?.ToString() ?? "";
        if (contentType.StartsWith("application/liquid", StringComparison.OrdinalIgnoreCase))
        {
            var body = RenderLiquid(await response.Content.ReadAsStringAsync(ct), locale ?? "en");
            http.Response.ContentType = "text/html; charset=utf-8";
            await http.Response.WriteAsync(PageAssets.Read("storefront-layout.html")
                .Replace("__LANG__", locale ?? "en", StringComparison.Ordinal)
                .Replace("__CUSTOMER__", customer?.ToString(CultureInfo.InvariantCulture) ?? "none", StringComparison.Ordinal)
                .Replace("__CONTENT__", body, StringComparison.Ordinal), ct);
            return;
        }
        if (contentType.Length > 0) http.Response.ContentType = contentType;
        await response.Content.CopyToAsync(http.Response.Body, ct);
    }

    [GeneratedRegex(@"\{%-?\s*raw\s*-?%\}(.*?)\{%-?\s*endraw\s*-?%\}", RegexOptions.Singleline)]
    private static partial Regex RawBlock();

    // {% assign x = request.locale.iso_code | split: '-' | first %}{% case x %}{% when 'ja' %}…{% else %}…{% endcase %}
    [GeneratedRegex(
        @"\{%-?\s*assign\s+(\w+)\s*=\s*request\.locale\.iso_code\s*\|\s*split:\s*'-'\s*\|\s*first\s*-?%\}"
        + @"\{%-?\s*case\s+\1\s*-?%\}(.*?)\{%-?\s*endcase\s*-?%\}",
        RegexOptions.Singleline)]
    private static partial Regex LanguageCase();

    [GeneratedRegex(@"\{%-?\s*(?:when\s+(.+?)|else)\s*-?%\}", RegexOptions.Singleline)]
    private static partial Regex CaseBranch();

    [GeneratedRegex("'([^']*)'")]
    private static partial Regex Quoted();

    [GeneratedRegex("^[a-z]{2,3}(-[A-Za-z]{2,4})?$")]
    private static partial Regex StorefrontLocale();

    [GeneratedRegex(@"\{\{-?\s*routes\.account_login_url\s*-?\}\}")]
    private static partial Regex AccountLoginUrl();

    // {% unless routes.root_url == '/' %}{{ routes.root_url | url_encode }}{% endunless %}: the language's prefix, encoded.
    [GeneratedRegex(
        @"\{%-?\s*unless\s+routes\.root_url\s*==\s*'/'\s*-?%\}\{\{-?\s*routes\.root_url\s*\|\s*url_encode\s*-?\}\}\{%-?\s*endunless\s*-?%\}")]
    private static partial Regex EncodedLocaleRoot();

    /// <summary>
    /// The Liquid My Page uses: raw blocks, a case on the storefront's language (<c>request.locale.iso_code</c>,
    /// here <paramref name="storefrontLocale"/>), and Shopify's <c>routes</c> (<c>account_login_url</c>, and <c>root_url</c>
    /// as My Page uses it), which carry the language in their path (<c>/ja/account/login</c>) unless it is the shop's
    /// <paramref name="primaryLocale"/>. Anything else would be rendered by Shopify and not by this emulator, so it is
    /// refused loudly instead of being shown differently from a real shop.
    /// </summary>
    public static string RenderLiquid(string liquid, string storefrontLocale = "en", string primaryLocale = "en")
    {
        var blocks = new List<string>();
        var outside = RawBlock().Replace(liquid, m =>
        {
            blocks.Add(m.Groups[1].Value);
            return $"\u0000{blocks.Count - 1}\u0000";
        });
        var language = storefrontLocale.Split('-')[0];
        outside = LanguageCase().Replace(outside, m =>
        {
            var branches = CaseBranch().Matches(m.Groups[2].Value);
            for (var i = 0; i < branches.Count; i++)
            {
                var values = branches[i].Groups[1].Success ? Quoted().Matches(branches[i].Groups[1].Value).Select(q => q.Groups[1].Value) : null;
                if (values is not null && !values.Contains(language)) continue;
                var end = i + 1 < branches.Count ? branches[i + 1].Index : m.Groups[2].Length;
                return m.Groups[2].Value[(branches[i].Index + branches[i].Length)..end];
            }
            return "";
        });
        var root = string.Equals(storefrontLocale, primaryLocale, StringComparison.OrdinalIgnoreCase) ? "" : "/"
            + storefrontLocale.ToLowerInvariant();
        outside = AccountLoginUrl().Replace(outside, root + "/account/login");
        outside = EncodedLocaleRoot().Replace(outside, Uri.EscapeDataString(root));
        if (outside.Contains("{{", StringComparison.Ordinal) || outside.Contains("{%", StringComparison.Ordinal))
        {
            throw new InvalidOperationException(
                "The storefront emulator renders only raw blocks, the language case and the routes My Page uses; the page uses other Liquid.");
        }
        return Regex.Replace(outside, "\u0000(\\d+)\u0000", m => blocks[int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)]);
    }
}
