using System.Text.RegularExpressions;
using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Sandbox;

namespace Loyalty.Tests.Extensions;

/// <summary>
/// The theme app extension reaches the app only through the app proxy declared in <c>shopify.app.toml</c> (no app
/// host, no absolute URL, no key in the theme), and what its script fetches there is really served: the storefront
/// path and the JSON fields are read from the script itself, so the test breaks when either drifts from the app.
/// </summary>
public sealed partial class ThemeExtensionAppProxyTests
{
    private const string Script = "assets/loyalty-balance.js";

    [Fact]
    public void The_extension_reaches_the_app_only_through_the_app_proxy()
    {
        var (storefront, _) = AppProxy();
        var appToml = File.ReadAllText(Path.Combine(NodeTools.RepoRoot, "shopify.app.toml"));
        var appHost = new Uri(TomlValue(appToml, "application_url")).Host;
        var clientId = TomlValue(appToml, "client_id");
        var problems = new List<string>();

        foreach (var file in ThemeExtension.Files())
        {
            var text = ThemeExtension.Read(file);
            foreach (Match m in AbsoluteUrl().Matches(text)) problems.Add($"{file}: absolute URL {m.Value}");
            if (text.Contains(appHost, StringComparison.OrdinalIgnoreCase)) problems.Add($"{file}: names the app's host {appHost}");
            if (text.Contains(clientId, StringComparison.Ordinal)) problems.Add($"{file}: holds the client id");
            foreach (Match m in UrlAttribute().Matches(text))
            {
                var value = m.Groups["value"].Value;
                var viaShopify = LiquidUrl().IsMatch(value); // {{ routes.* }} or {{ '…' | asset_url }}: the shop's own addresses
                if (!viaShopify && !IsUnder(value, storefront)) problems.Add(
                    $"{file}: {m.Groups["name"].Value}=\"{value}\" is neither the app proxy nor a Shopify route/asset");
            }
        }

        var js = ThemeExtension.Read(Script);
        var fetched = FetchedPaths(js);
        Assert.NotEmpty(fetched);
        problems.AddRange(fetched.Where(p => !IsUnder(p, storefront)).Select(p => $"{Script}: fetches {p}, outside {storefront}"));
        problems.AddRange(PathLiteral().Matches(js).Select(m => m.Groups["path"].Value).Where(p => !IsUnder(p, storefront))
            .Select(p => $"{Script}: path {p} outside {storefront}"));
        problems.AddRange(OtherChannel().Matches(js).Select(m => $"{Script}: {m.Value} (the app is reached with fetch only)"));

        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public async Task What_the_script_fetches_through_the_app_proxy_is_the_logged_in_customer_s_balance()
    {
        var js = ThemeExtension.Read(Script);
        var storefrontPath = Assert.Single(FetchedPaths(js));
        var fields = MeFields().Matches(js).Select(m => m.Groups["field"].Value).Distinct().ToList();
        var numbers = MeNumberFields().Matches(js).Select(m => m.Groups["field"].Value).ToList();
        Assert.Contains("balance", fields);
        var (storefront, app) = AppProxy();
        Assert.StartsWith(storefront + "/", storefrontPath);
        // What Shopify does with /apps/loyalty/api/me: the same path under the proxy URL, with the signed query.
        var appPath = app + storefrontPath[storefront.Length..];
        using var unused = new ShopifyFake();
        await using var loyalty = await LoyaltyApp.StartSandboxAsync(unused);
        const string shop = "demo-shop.myshopify.com";

        var response = await loyalty.Http.GetAsync(appPath + "?" + ShopifyOutbound.AppProxyQuery(shop, 1001, SandboxMode.ClientSecret));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        var me = await response.Content.ReadFromJsonAsync<JsonElement>();
        foreach (var field in fields) Assert.True(me.TryGetProperty(field, out _),
            $"{Script} reads me.{field}, which {appPath} does not answer: {me}");
        foreach (var field in numbers) Assert.Equal(JsonValueKind.Number, me.GetProperty(field).ValueKind);
        Assert.Equal(1500, me.GetProperty("balance").GetInt64()); // demo customer 1001's starting balance

        // A guest's request is refused, which the script takes as "keep the balance hidden".
        var guest = await loyalty.Http.GetAsync(appPath + "?" + ShopifyOutbound.AppProxyQuery(shop, null, SandboxMode.ClientSecret));
        Assert.Equal(HttpStatusCode.Unauthorized, guest.StatusCode);
        Assert.Equal("customer_not_logged_in", (await guest.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Contains("response.ok", js);
    }

    /// <summary>The storefront path of the app proxy (<c>/{prefix}/{subpath}</c>) and the path it forwards to on the app.</summary>
    private static (string Storefront, string App) AppProxy()
    {
        var toml = File.ReadAllText(Path.Combine(NodeTools.RepoRoot, "shopify.app.toml"));
        var section = Regex.Match(toml, @"^\[app_proxy\][^\n]*\n(?<body>.*?)(?=^\[|\z)",
            RegexOptions.Multiline | RegexOptions.Singleline).Groups["body"].Value;
        Assert.False(string.IsNullOrWhiteSpace(section), "shopify.app.toml has no [app_proxy]");
        return ($"/{TomlValue(section, "prefix")}/{TomlValue(section, "subpath")}", new Uri(TomlValue(section, "url")).AbsolutePath.TrimEnd('/'));
    }

    private static string TomlValue(string toml, string key)
    {
        var m = Regex.Match(toml, $@"^\s*{Regex.Escape(key)}\s*=\s*""(?<value>[^""]*)""", RegexOptions.Multiline);
        Assert.True(m.Success, $"no {key} in shopify.app.toml");
        return m.Groups["value"].Value;
    }

    private static bool IsUnder(string path, string prefix) =>
        path == prefix || path.StartsWith(prefix + "/", StringComparison.Ordinal) || path.StartsWith(prefix + "?", StringComparison.Ordinal);

    private static List<string> FetchedPaths(string js) => FetchCall().Matches(js).Select(m => m.Groups["path"].Value).ToList();

    [GeneratedRegex(@"https?://\S*", RegexOptions.IgnoreCase)]
    private static partial Regex AbsoluteUrl();

    [GeneratedRegex(@"\b(?<name>href|src|action|formaction)\s*=\s*""(?<value>[^""]*)""", RegexOptions.IgnoreCase)]
    private static partial Regex UrlAttribute();

    [GeneratedRegex(@"^\{\{\s*(routes\.[a-z_]+|'[^']+'\s*\|\s*asset_url)\s*\}\}$")]
    private static partial Regex LiquidUrl();

    [GeneratedRegex(@"\bfetch\(\s*(?<q>['""`])(?<path>[^'""`]*)\k<q>")]
    private static partial Regex FetchCall();

    [GeneratedRegex(@"(?<q>['""`])(?<path>/[^'""`\s]*)\k<q>")]
    private static partial Regex PathLiteral();

    [GeneratedRegex(@"\b(XMLHttpRequest|sendBeacon|WebSocket|EventSource|importScripts|import\s*\()")]
    private static partial Regex OtherChannel();

    // The script names the JSON answer `me`, as My Page does; every field it reads is `me.<field>`.
    [GeneratedRegex(@"\bme\.(?<field>[A-Za-z_$][\w$]*)")]
    private static partial Regex MeFields();

    [GeneratedRegex(@"typeof\s+me\.(?<field>[A-Za-z_$][\w$]*)\s*!==?\s*'number'")]
    private static partial Regex MeNumberFields();
}
