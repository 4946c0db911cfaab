using System.Net;
using System.Text;
using Loyalty.Tests.Infrastructure;

namespace Loyalty.Tests.Features;

/// <summary>
/// The forged and malformed sweep at size: over 5,000 requests generated from a fixed seed across every entry point
/// (the embedded admin API, the app proxy, webhooks, OAuth, the pages), each a forgery of a kind an attacker has:
/// tokens signed with another secret, expired, for another audience or algorithm; proxy queries re-signed with another
/// secret, replayed late, with a parameter twice or a customer spelt otherwise; webhooks with a wrong or missing HMAC.
/// None may be accepted, none answered with a 5xx, and no row may change.
/// </summary>
public sealed class ForgerySweepTests : IAsyncLifetime
{
    private const string Attacker = "shpss_attacker_secret_0123456789abcdef01";
    private readonly ShopifyFake _shopify = new();
    private LoyaltyApp _app = null!;
    private string _shop = null!;

    public async Task InitializeAsync()
    {
        _app = await LoyaltyApp.StartAsync(_shopify, new Dictionary<string, string?>
        {
            ["Storefront:CustomerRequestLimit"] = "1000000", ["Storefront:ShopRequestLimit"] = "1000000", ["Storefront:CustomerCodeCheckLimit"] = "1000000",
        });
        _shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, _shop);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _shopify.Dispose();
    }

    private static readonly string[] AdminPaths =
    [
        "/api/admin/shop", "/api/admin/settings", "/api/admin/customers/1/points", "/api/admin/customers/1", "/api/admin/conversions",
        "/api/admin/campaigns", "/api/admin/campaigns/1", "/api/admin/coupons/validate", "/api/admin/pos-sync", "/api/admin/pos-sync/1/retry",
        "/api/admin/webhooks", "/api/admin/compliance/data-requests", "/api/admin/dashboard", "/api/admin/coupon-incidents/1/resolve",
        "/api/admin/event-endpoint", "/api/admin/settings/pos/test", "/api/admin/donations", "/api/admin/reports/coupons",
    ];

    private static readonly (HttpMethod Method, string Path)[] ProxyCalls =
    [
        (HttpMethod.Get, "/proxy"), (HttpMethod.Get, "/proxy/api/me"), (HttpMethod.Get, "/proxy/api/session"), (HttpMethod.Post, "/proxy/api/conversions"),
        (HttpMethod.Get, "/proxy/api/conversions/conv_x"), (HttpMethod.Get, "/proxy/api/coupons"), (HttpMethod.Post, "/proxy/api/coupons/ABC/cancel"),
        (HttpMethod.Post, "/proxy/api/coupons/validate"), (HttpMethod.Post, "/proxy/api/donations"), (HttpMethod.Post, "/proxy/api/feedback"),
    ];

    private static readonly string[] Topics = ["orders/paid", "orders/cancelled", "refunds/create", "app/uninstalled", "customers/redact", "shop/redact", "customers/data_request"];

    private IEnumerable<(string What, Func<HttpRequestMessage> Request)> Forgeries(Random random)
    {
        var methods = new[] { HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete };
        var tokens = new (string What, Func<string> Token)[]
        {
            ("another secret", () => SessionTokenMinter.Mint(Attacker, LoyaltyApp.ApiKey, _shop)),
            ("expired", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, _shop, now: DateTimeOffset.UtcNow.AddHours(-2))),
            ("another audience", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, _shop, audience: "another-app")),
            ("alg none", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, _shop, alg: "none")),
            ("not before the future", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, _shop, notBeforeOffset: TimeSpan.FromHours(1))),
            ("iss of another shop", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, _shop, issShop: "other.myshopify.com")),
            ("junk", () => Convert.ToBase64String(Bytes(random, 64))),
        };
        for (var round = 0; round < 3; round++)
        {
            foreach (var path in AdminPaths)
            foreach (var method in methods)
            foreach (var (what, token) in tokens)
            {
                yield return ($"{method} {path} with a token {what}", () => LoyaltyApp.AdminWithToken(method, path, token(), Json("{\"points\":100}")));
            }
        }
        for (var i = 0; i < 330; i++)
        {
            foreach (var (method, path) in ProxyCalls)
            {
                var (what, query) = ForgedProxyQuery(random, path);
                yield return ($"{method} {path} {what}", () => new HttpRequestMessage(method, query) { Content = method == HttpMethod.Post ? Json("{\"points\":100,\"code\":\"X\"}") : null });
            }
        }
        for (var i = 0; i < 150; i++)
        {
            var topic = Topics[random.Next(Topics.Length)];
            var body = Bytes(random, random.Next(0, 300));
            var hmac = random.Next(3) switch { 0 => null, 1 => Convert.ToBase64String(Bytes(random, 32)), _ => Loyalty.ShopifyApp.Infrastructure.Shopify.ShopifySignatures.SignWebhook(body, Attacker) };
            yield return ($"webhook {topic} with {(hmac is null ? "no" : "a forged")} HMAC", () =>
            {
                var r = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(body) };
                r.Headers.Add("X-Shopify-Topic", topic);
                r.Headers.Add("X-Shopify-Shop-Domain", _shop);
                r.Headers.Add("X-Shopify-Webhook-Id", Guid.NewGuid().ToString());
                if (hmac is not null) r.Headers.Add("X-Shopify-Hmac-Sha256", hmac);
                return r;
            });
        }
        for (var i = 0; i < 100; i++)
        {
            var shop = random.Next(3) switch { 0 => _shop + "%0A", 1 => "evil.example.com", _ => $"{_shop}&shop=other.myshopify.com" };
            yield return ($"OAuth callback for {shop} with a forged hmac", () => new HttpRequestMessage(HttpMethod.Get,
                $"/auth/callback?shop={shop}&code=abc&state=s{random.Next()}&timestamp={DateTimeOffset.UtcNow.ToUnixTimeSeconds()}&hmac={Convert.ToHexString(Bytes(random, 32))}"));
            yield return ($"GET /admin?shop={shop}", () => new HttpRequestMessage(HttpMethod.Get, $"/admin?shop={shop}"));
        }
    }

    /// <summary>A proxy query Shopify never signed as it stands: each kind of forgery in turn, drawn from the seed.</summary>
    private (string What, string Url) ForgedProxyQuery(Random random, string path)
    {
        var customer = random.Next(1, 100_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        List<KeyValuePair<string, string>> Query(string id, DateTimeOffset? at = null) =>
        [
            new("shop", _shop), new("logged_in_customer_id", id), new("path_prefix", "/apps/loyalty"),
            new("timestamp", (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ];
        return random.Next(6) switch
        {
            0 => ("signed with another secret", LoyaltyApp.SignedProxyPath(path, Query(customer), Attacker)),
            1 => ("signed 10 minutes ago", LoyaltyApp.SignedProxyPath(path, Query(customer, DateTimeOffset.UtcNow.AddMinutes(-10)))),
            2 => ("with the customer twice", LoyaltyApp.SignedProxyPath(path, [.. Query(customer), new("logged_in_customer_id", "")])),
            3 => ("with a customer spelt otherwise", LoyaltyApp.SignedProxyPath(path, Query(random.Next(3) switch { 0 => "+" + customer, 1 => "0" + customer, _ => " " + customer }))),
            4 => ("with the shop twice", LoyaltyApp.SignedProxyPath(path, [.. Query(customer), new("shop", "other.myshopify.com")])),
            _ => ("with its signature altered", LoyaltyApp.SignedProxyPath(path, Query(customer)).Replace("signature=", "signature=0", StringComparison.Ordinal)),
        };
    }

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Over_five_thousand_generated_forgeries_across_every_entry_point_are_refused_with_a_4xx_and_change_nothing()
    {
        const string State = "SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM shops) + (SELECT count(*) FROM shop_tokens) " +
                             "+ (SELECT count(*) FROM point_transactions) + (SELECT count(*) FROM conversions) + (SELECT count(*) FROM campaigns) " +
                             "+ (SELECT count(*) FROM donations) + (SELECT count(*) FROM customer_feedback) + (SELECT count(*) FROM shop_settings) " +
                             "+ (SELECT count(*) FROM oauth_states)";
        var before = await _app.ScalarAsync<long>(State);
        var failures = new List<string>();
        var sent = 0;
        foreach (var (what, request) in Forgeries(new Random(20261202)))
        {
            using var response = await _app.Http.SendAsync(request());
            sent++;
            if ((int)response.StatusCode is < 400 or >= 500) failures.Add($"{what}: {(int)response.StatusCode}");
        }

        Assert.True(sent >= 5000, $"only {sent} requests");
        Assert.Empty(failures.Take(20));
        Assert.Equal(before, await _app.ScalarAsync<long>(State));
    }
}
