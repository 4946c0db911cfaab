using System.Net;
using System.Text;
using Loyalty.Tests.Infrastructure;

namespace Loyalty.Tests.Features;

/// <summary>No forged or malformed request to any entry point is accepted or answered with a 5xx.</summary>
public sealed class ForgedAndMalformedRequestTests : IAsyncLifetime
{
    private readonly ShopifyFake _shopify = new();
    private LoyaltyApp _app = null!;
    private string _shop = null!;

    public async Task InitializeAsync()
    {
        _app = await LoyaltyApp.StartAsync(_shopify, new Dictionary<string, string?> { ["Webhooks:MaxBodyBytes"] = "65536" });
        _shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, _shop);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _shopify.Dispose();
    }

    private IEnumerable<(string What, Func<HttpRequestMessage> Request)> Forgeries()
    {
        var paths = new[] { "/api/admin/shop", "/api/admin/webhooks", "/api/admin/webhooks/1/retry", "/api/admin/compliance/data-requests",
            "/api/admin/compliance/data-requests/1", "/api/admin/settings", "/api/admin/customers/1", "/api/admin/customers/1/points",
            "/api/admin/pos-sync", "/api/admin/pos-sync/drift", "/api/admin/pos-sync/1/retry", "/api/admin/conversions", "/api/admin/donations", "/api/admin/campaigns",
            "/api/admin/campaigns/1", "/api/admin/campaigns/1/codes.csv", "/api/admin/coupons/validate", "/api/admin/reports/coupons",
            "/api/admin/event-endpoint", "/api/admin/event-endpoint/events", "/api/admin/event-endpoint/events/evt_x/retry",
            "/api/admin/dashboard", "/api/admin/conversions/conv_x/retry", "/api/admin/conversions/conv_x/cancel", "/api/admin/settings/pos/test",
            "/api/admin/customers/1/coupons", "/api/admin/coupon-incidents", "/api/admin/coupon-incidents/1/resolve", "/api/admin/orphan-coupons",
            "/api/admin/campaigns/1/retry" };
        foreach (var path in paths)
        {
            yield return ($"GET {path} without a token", () => new HttpRequestMessage(HttpMethod.Get, path));
            yield return ($"POST {path} with a forged token", () => LoyaltyApp.AdminWithToken(HttpMethod.Post, path,
                SessionTokenMinter.Mint("shpss_attacker_secret_0123456789abcdef01", LoyaltyApp.ApiKey, _shop)));
            yield return ($"GET {path} with a bearer of junk", () => LoyaltyApp.AdminWithToken(HttpMethod.Get, path, new string('A', 5000)));
        }
        yield return ("webhook with no headers", () => new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new StringContent("{}") });
        yield return ("webhook over the size cap", () =>
        {
            var r = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(new byte[200_000]) };
            r.Headers.Add("X-Shopify-Hmac-Sha256", "AAAA");
            return r;
        });
        yield return ("webhook as GET", () => new HttpRequestMessage(HttpMethod.Get, "/webhooks"));
        // Signed bodies of another shop under this shop's header (the HMAC covers the body only).
        yield return ("signed uninstall naming another shop", () => SignedWebhook("app/uninstalled", """{"id":1,"myshopify_domain":"other.myshopify.com"}"""));
        yield return ("signed shop erasure naming another shop", () => SignedWebhook("shop/redact", """{"shop_id":1,"shop_domain":"other.myshopify.com"}"""));
        yield return ("signed order body as an uninstall", () => SignedWebhook("app/uninstalled", ShopifyPayloads.Order(1, 777, 10m, 10m)));
        yield return ("proxy without any query", () => new HttpRequestMessage(HttpMethod.Get, "/proxy/api/session"));
        yield return ("proxy with a broken query", () => new HttpRequestMessage(HttpMethod.Get, "/proxy/api/session?shop=%ZZ&&=&signature"));
        yield return ("My Page unsigned", () => new HttpRequestMessage(HttpMethod.Get, $"/proxy?shop={_shop}&logged_in_customer_id=777"));
        yield return ("My Page with a forged signature", () => new HttpRequestMessage(HttpMethod.Get,
            LoyaltyApp.ProxyPath("/proxy", _shop, 777, secret: "shpss_attacker_secret_0123456789abcdef01")));
        yield return ("proxy with a huge signature", () => new HttpRequestMessage(HttpMethod.Get,
            $"/proxy/api/session?shop={_shop}&timestamp=1&signature={new string('a', 4000)}"));
        // Signed as Shopify signs them (repeated values joined by commas), but the customer is ambiguous or misspelt.
        yield return ("proxy with a customer id and an empty one", () => new HttpRequestMessage(HttpMethod.Get,
            LoyaltyApp.ProxyPath("/proxy/api/me", _shop, 1002, extra: [new("logged_in_customer_id", "")])));
        foreach (var spelling in new[] { "+1002", " 1002", "01002" })
        {
            yield return ($"proxy with customer id '{spelling}'", () => new HttpRequestMessage(HttpMethod.Get, LoyaltyApp.SignedProxyPath("/proxy/api/me",
                [new("shop", _shop), new("logged_in_customer_id", spelling), new("path_prefix", "/apps/loyalty"),
                 new("timestamp", DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture))])));
        }
        foreach (var path in new[] { "/proxy/api/me", "/proxy/api/feedback", "/proxy/api/conversions", "/proxy/api/conversions/conv_x",
                     "/proxy/api/coupons", "/proxy/api/coupons/X/cancel", "/proxy/api/donations", "/proxy/api/coupons/validate" })
        {
            yield return ($"POST {path} unsigned", () => new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent("{\"points\":500}", Encoding.UTF8, "application/json") });
            yield return ($"POST {path} with a forged signature", () => new HttpRequestMessage(HttpMethod.Post,
                LoyaltyApp.ProxyPath(path, _shop, 777, secret: "shpss_attacker_secret_0123456789abcdef01")) { Content = new StringContent("{}", Encoding.UTF8, "application/json") });
            yield return ($"POST {path} signed but with a broken body", () => new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath(path, _shop, 777))
                { Content = new StringContent("{not json", Encoding.UTF8, "application/json") });
        }
        // The pages' admin endpoints with a valid token and bad input.
        yield return ("dashboard with a date that is not one", () => _app.Admin(HttpMethod.Get, "/api/admin/dashboard?from=yesterday", _shop));
        yield return ("dashboard backwards", () => _app.Admin(HttpMethod.Get, "/api/admin/dashboard?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z", _shop));
        yield return ("retry of an unknown conversion", () => _app.Admin(HttpMethod.Post, "/api/admin/conversions/%00%27x/retry", _shop));
        yield return ("cancel of an unknown conversion", () => _app.Admin(HttpMethod.Post, $"/api/admin/conversions/{new string('x', 3000)}/cancel", _shop));
        yield return ("resolving an incident that is not a number", () => _app.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/abc/resolve", _shop,
            new StringContent("""{"resolution":"x"}""", Encoding.UTF8, "application/json")));
        yield return ("resolving an unknown incident", () => _app.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/999999/resolve", _shop,
            new StringContent("""{"resolution":"x"}""", Encoding.UTF8, "application/json")));
        yield return ("resolving an incident without saying how", () => _app.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/1/resolve", _shop,
            new StringContent("""{"resolution":""}""", Encoding.UTF8, "application/json")));
        yield return ("retry of a campaign that is not a number", () => _app.Admin(HttpMethod.Post, "/api/admin/campaigns/abc/retry", _shop));
        yield return ("retry of an unknown campaign", () => _app.Admin(HttpMethod.Post, "/api/admin/campaigns/999999/retry", _shop));
        yield return ("a campaign without an Idempotency-Key", () => _app.Admin(HttpMethod.Post, "/api/admin/campaigns", _shop,
            new StringContent("""{"title":"x","percentage":10,"code":"NOKEY-1"}""", Encoding.UTF8, "application/json")));
        yield return ("incidents filtered by a flag that is not one", () => _app.Admin(HttpMethod.Get, "/api/admin/coupon-incidents?resolved=maybe", _shop));
        yield return ("coupons of a customer that is not a number", () => _app.Admin(HttpMethod.Get, "/api/admin/customers/abc/coupons", _shop));
        yield return ("POS test against a private address", () => _app.Admin(HttpMethod.Post, "/api/admin/settings/pos/test", _shop,
            new StringContent("""{"posBaseUrl":"https://10.0.0.1","posApiKey":"k"}""", Encoding.UTF8, "application/json")));
        yield return ("POS test with credentials in the URL", () => _app.Admin(HttpMethod.Post, "/api/admin/settings/pos/test", _shop,
            new StringContent("""{"posBaseUrl":"https://user:pw@pos.example.com","posApiKey":"k"}""", Encoding.UTF8, "application/json")));
        foreach (var path in new[] { "/api/admin/settings", "/api/admin/campaigns", "/api/admin/coupons/validate", "/api/admin/event-endpoint",
                     "/api/admin/settings/pos/test" })
        {
            yield return ($"PUT/POST {path} with a broken body", () => _app.Admin(path.EndsWith("/settings", StringComparison.Ordinal) || path.EndsWith("endpoint", StringComparison.Ordinal)
                ? HttpMethod.Put : HttpMethod.Post, path, _shop, new StringContent("{not json", Encoding.UTF8, "application/json")));
        }
        yield return ("oauth callback with nothing", () => new HttpRequestMessage(HttpMethod.Get, "/auth/callback"));
        yield return ("oauth callback with a bad hmac", () => new HttpRequestMessage(HttpMethod.Get,
            $"/auth/callback?shop={_shop}&code=x&state=y&timestamp=1&hmac=zz"));
        yield return ("oauth start with a bad hmac", () => new HttpRequestMessage(HttpMethod.Get, $"/auth?shop={_shop}&hmac=00"));
        // .NET's $ matches before a final newline: each of these once passed its pattern.
        yield return ("oauth start with a shop ending in a newline", () => new HttpRequestMessage(HttpMethod.Get, $"/auth?shop={_shop}%0A"));
        yield return ("admin page with a shop ending in a newline", () => new HttpRequestMessage(HttpMethod.Get, $"/admin?shop={_shop}%0A"));
        yield return ("admin page with a shop that is not one", () => new HttpRequestMessage(HttpMethod.Get, "/admin?shop=evil.example.com"));
        yield return ("oauth callback with a shop ending in a newline", () => new HttpRequestMessage(HttpMethod.Get,
            $"/auth/callback?shop={_shop}%0A&code=x&state=y&timestamp=1&hmac=zz"));
        yield return ("a campaign code ending in a newline", () =>
        {
            var r = _app.Admin(HttpMethod.Post, "/api/admin/campaigns", _shop,
                new StringContent("""{"title":"x","percentage":10,"code":"ABC\n"}""", Encoding.UTF8, "application/json"));
            r.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
            return r;
        });
    }

    private HttpRequestMessage SignedWebhook(string topic, string body)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(bytes) };
        request.Headers.Add("X-Shopify-Topic", topic);
        request.Headers.Add("X-Shopify-Shop-Domain", _shop);
        request.Headers.Add("X-Shopify-Webhook-Id", Guid.NewGuid().ToString());
        request.Headers.Add("X-Shopify-Hmac-Sha256", Loyalty.ShopifyApp.Infrastructure.Shopify.ShopifySignatures.SignWebhook(bytes, LoyaltyApp.Secret));
        return request;
    }

    [Fact]
    public async Task Forged_and_malformed_requests_get_a_4xx_and_change_nothing()
    {
        const string State = "SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM shops) + (SELECT count(*) FROM shop_tokens) " +
                             "+ (SELECT count(*) FROM point_transactions) + (SELECT count(*) FROM conversions) + (SELECT count(*) FROM campaigns) " +
                             "+ (SELECT count(*) FROM donations) + (SELECT count(*) FROM customer_feedback) + (SELECT count(*) FROM shop_settings)";
        var before = await _app.ScalarAsync<long>(State);
        var failures = new List<string>();
        foreach (var (what, request) in Forgeries())
        {
            using var response = await _app.Http.SendAsync(request());
            if ((int)response.StatusCode is < 400 or >= 500) failures.Add($"{what}: {(int)response.StatusCode}");
        }

        Assert.Empty(failures);
        Assert.Equal(before, await _app.ScalarAsync<long>(State));
    }

    [Theory]
    [InlineData("/auth?shop={shop}%0A")]
    [InlineData("/auth?shop={shop}%0A&hmac=00")]
    [InlineData("/admin?shop={shop}%0A")]
    [InlineData("/admin?shop={shop}%0A&host=abc&embedded=1")]
    public async Task A_shop_ending_in_a_newline_gets_a_problem_not_a_500(string path)
    {
        using var response = await _app.Http.GetAsync(path.Replace("{shop}", _shop, StringComparison.Ordinal));

        Assert.InRange((int)response.StatusCode, 400, 499);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM oauth_states WHERE shop_domain LIKE '%' || chr(10)"));
    }

    [Fact]
    public async Task Random_bytes_with_random_signatures_never_get_a_2xx_or_5xx()
    {
        var random = new Random(20261123); // fixed seed: the same inputs every run
        var failures = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            var body = new byte[random.Next(0, 2048)];
            random.NextBytes(body);
            var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(body) };
            var sig = new byte[32];
            random.NextBytes(sig);
            request.Headers.Add("X-Shopify-Hmac-Sha256", Convert.ToBase64String(sig));
            request.Headers.Add("X-Shopify-Topic", "app/uninstalled");
            request.Headers.Add("X-Shopify-Shop-Domain", _shop);
            request.Headers.Add("X-Shopify-Webhook-Id", Guid.NewGuid().ToString());
            using var response = await _app.Http.SendAsync(request);
            if ((int)response.StatusCode is < 400 or >= 500) failures.Add($"webhook #{i}: {(int)response.StatusCode}");

            var query = Convert.ToBase64String(body.Take(64).ToArray()).Replace("+", "%2B").Replace("/", "%2F");
            using var proxy = await _app.Http.GetAsync($"/proxy/api/session?shop={_shop}&timestamp={DateTimeOffset.UtcNow.ToUnixTimeSeconds()}&x={query}&signature={Convert.ToHexStringLower(sig)}");
            if ((int)proxy.StatusCode is < 400 or >= 500) failures.Add($"proxy #{i}: {(int)proxy.StatusCode}");
        }

        Assert.Empty(failures);
        Assert.Equal("installed", await _app.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop = _shop }));
    }

    [Fact]
    public async Task A_NUL_character_in_an_incident_resolution_is_refused_with_a_field_error()
    {
        using var response = await _app.Http.SendAsync(_app.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/1/resolve", _shop,
            new StringContent("""{"resolution":"done\u0000"}""", Encoding.UTF8, "application/json")));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        Assert.Contains("\"resolution\"", body); // errors.resolution
    }

    [Fact]
    public async Task A_NUL_character_in_a_query_that_reaches_the_database_is_a_4xx_not_a_500()
    {
        // A field without a check of its own: the database refuses the NUL, and that is the client's mistake, not a 500.
        using var response = await _app.Http.SendAsync(_app.Admin(HttpMethod.Get, "/api/admin/event-endpoint/events?state=fail%00ed", _shop));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        Assert.Contains("\"invalid_text\"", body);
    }
}
