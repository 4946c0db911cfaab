namespace Loyalty.Tests.Features;

/// <summary>
/// Requests an attacker can make against every entry point (the embedded admin API, the app proxy, webhooks, OAuth, the
/// pages), none of which the app may accept: <see cref="Handwritten"/>, one of each kind found so far, and
/// <see cref="Generated"/>, over 5,000 drawn from a seed.
/// </summary>
public static class Forgeries
{
    /// <summary>A secret that is not the app's: what an attacker signs with.</summary>
    public const string Attacker = "shpss_attacker_secret_0123456789abcdef01";

    private static readonly string[] AdminPaths =
    [
        "/api/admin/shop", "/api/admin/settings", "/api/admin/customers/1/points", "/api/admin/customers/1", "/api/admin/conversions",
        "/api/admin/campaigns", "/api/admin/campaigns/1", "/api/admin/coupons/validate", "/api/admin/pos-sync", "/api/admin/pos-sync/1/retry",
        "/api/admin/webhooks", "/api/admin/compliance/data-requests", "/api/admin/dashboard", "/api/admin/coupon-incidents/1/resolve",
        "/api/admin/event-endpoint", "/api/admin/settings/pos/test", "/api/admin/donations", "/api/admin/reports/coupons",
    ];

    private static readonly (HttpMethod Method, string Path)[] ProxyCalls =
    [
        (HttpMethod.Get, "/proxy"), (HttpMethod.Get, "/proxy/api/me"), (HttpMethod.Get, "/proxy/api/session"),
        (HttpMethod.Post, "/proxy/api/conversions"),
        (HttpMethod.Get, "/proxy/api/conversions/conv_x"), (HttpMethod.Get, "/proxy/api/coupons"), (HttpMethod.Post, "/proxy/api/coupons/ABC/cancel"),
        (HttpMethod.Post, "/proxy/api/coupons/validate"), (HttpMethod.Post, "/proxy/api/donations"), (HttpMethod.Post, "/proxy/api/feedback"),
    ];

    private static readonly string[] Topics = ["orders/paid", "orders/cancelled", "refunds/create", "app/uninstalled", "customers/redact",
        "shop/redact", "customers/data_request"];

    public static IEnumerable<(string What, Func<HttpRequestMessage> Request)> Handwritten(LoyaltyApp app, string shop)
    {
        var paths = new[] { "/api/admin/shop", "/api/admin/webhooks", "/api/admin/webhooks/1/retry", "/api/admin/compliance/data-requests",
            "/api/admin/compliance/data-requests/1", "/api/admin/settings", "/api/admin/customers/1", "/api/admin/customers/1/points",
            "/api/admin/pos-sync", "/api/admin/pos-sync/drift", "/api/admin/pos-sync/1/retry", "/api/admin/conversions", "/api/admin/donations",
            "/api/admin/campaigns",
            "/api/admin/campaigns/1", "/api/admin/campaigns/1/codes.csv", "/api/admin/coupons/validate", "/api/admin/reports/coupons",
            "/api/admin/event-endpoint", "/api/admin/event-endpoint/events", "/api/admin/event-endpoint/events/evt_x/retry",
            "/api/admin/dashboard", "/api/admin/conversions/conv_x/retry", "/api/admin/conversions/conv_x/cancel", "/api/admin/settings/pos/test",
            "/api/admin/customers/1/coupons", "/api/admin/coupon-incidents", "/api/admin/coupon-incidents/1/resolve", "/api/admin/orphan-coupons",
            "/api/admin/campaigns/1/retry", "/api/admin/coupons/X1/redemptions", "/api/admin/point-transactions" };
        foreach (var path in paths)
        {
            yield return ($"GET {path} without a token", () => new HttpRequestMessage(HttpMethod.Get, path));
            yield return ($"POST {path} with a forged token", () => LoyaltyApp.AdminWithToken(HttpMethod.Post, path,
                SessionTokenMinter.Mint(Attacker, LoyaltyApp.ApiKey, shop)));
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
        yield return ("signed uninstall naming another shop", () => SignedWebhook("app/uninstalled",
            """{"id":1,"myshopify_domain":"other.myshopify.com"}""", shop));
        yield return ("signed shop erasure naming another shop", () => SignedWebhook("shop/redact",
            """{"shop_id":1,"shop_domain":"other.myshopify.com"}""", shop));
        yield return ("signed order body as an uninstall", () => SignedWebhook("app/uninstalled", ShopifyPayloads.Order(1, 777, 10m, 10m), shop));
        yield return ("proxy without any query", () => new HttpRequestMessage(HttpMethod.Get, "/proxy/api/session"));
        yield return ("proxy with a broken query", () => new HttpRequestMessage(HttpMethod.Get, "/proxy/api/session?shop=%ZZ&&=&signature"));
        yield return ("My Page unsigned", () => new HttpRequestMessage(HttpMethod.Get, $"/proxy?shop={shop}&logged_in_customer_id=777"));
        yield return ("My Page with a forged signature", () => new HttpRequestMessage(HttpMethod.Get,
            LoyaltyApp.ProxyPath("/proxy", shop, 777, secret: Attacker)));
        yield return ("proxy with a huge signature", () => new HttpRequestMessage(HttpMethod.Get,
            $"/proxy/api/session?shop={shop}&timestamp=1&signature={new string('a', 4000)}"));
        // Signed as Shopify signs them (repeated values joined by commas), but the customer is ambiguous or misspelt.
        yield return ("proxy with a customer id and an empty one", () => new HttpRequestMessage(HttpMethod.Get,
            LoyaltyApp.ProxyPath("/proxy/api/me", shop, 1002, extra: [new("logged_in_customer_id", "")])));
        foreach (var spelling in new[] { "+1002", " 1002", "01002" })
        {
            yield return ($"proxy with customer id '{spelling}'", () => new HttpRequestMessage(HttpMethod.Get,
                LoyaltyApp.SignedProxyPath("/proxy/api/me",
                [new("shop", shop), new("logged_in_customer_id", spelling), new("path_prefix", "/apps/loyalty"),
                 new("timestamp", DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture))])));
        }
        foreach (var path in new[] { "/proxy/api/me", "/proxy/api/feedback", "/proxy/api/conversions", "/proxy/api/conversions/conv_x",
                     "/proxy/api/coupons", "/proxy/api/coupons/X/cancel", "/proxy/api/donations", "/proxy/api/coupons/validate" })
        {
            yield return ($"POST {path} unsigned", () => new HttpRequestMessage(HttpMethod.Post,
                path) { Content = new StringContent("{\"points\":500}", Encoding.UTF8, "application/json") });
            yield return ($"POST {path} with a forged signature", () => new HttpRequestMessage(HttpMethod.Post,
                LoyaltyApp.ProxyPath(path, shop, 777, secret: Attacker)) { Content = new StringContent("{}", Encoding.UTF8, "application/json") });
            yield return ($"POST {path} signed but with a broken body",
                () => new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath(path, shop, 777))
                { Content = new StringContent("{not json", Encoding.UTF8, "application/json") });
        }
        // The pages' admin endpoints with a valid token and bad input.
        yield return ("dashboard with a date that is not one", () => app.Admin(HttpMethod.Get, "/api/admin/dashboard?from=yesterday", shop));
        yield return ("dashboard backwards", () => app.Admin(HttpMethod.Get, "/api/admin/dashboard?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            shop));
        yield return ("retry of an unknown conversion", () => app.Admin(HttpMethod.Post, "/api/admin/conversions/%00%27x/retry", shop));
        yield return ("cancel of an unknown conversion", () => app.Admin(HttpMethod.Post, $"/api/admin/conversions/{new string('x', 3000)}/cancel",
            shop));
        yield return ("resolving an incident that is not a number", () => app.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/abc/resolve", shop,
            new StringContent("""{"resolution":"x"}""", Encoding.UTF8, "application/json")));
        yield return ("resolving an unknown incident", () => app.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/999999/resolve", shop,
            new StringContent("""{"resolution":"x"}""", Encoding.UTF8, "application/json")));
        yield return ("resolving an incident without saying how", () => app.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/1/resolve", shop,
            new StringContent("""{"resolution":""}""", Encoding.UTF8, "application/json")));
        yield return ("retry of a campaign that is not a number", () => app.Admin(HttpMethod.Post, "/api/admin/campaigns/abc/retry", shop));
        yield return ("retry of an unknown campaign", () => app.Admin(HttpMethod.Post, "/api/admin/campaigns/999999/retry", shop));
        yield return ("a campaign without an Idempotency-Key", () => app.Admin(HttpMethod.Post, "/api/admin/campaigns", shop,
            new StringContent("""{"title":"x","percentage":10,"code":"NOKEY-1"}""", Encoding.UTF8, "application/json")));
        // A campaign edit and a code's usage, with a valid token and input that is not right (campaign 1 is no campaign of this shop;
        // CampaignEditTests refuses the same inputs field by field on a real one).
        foreach (var (what, json) in new[]
                 {
                     ("a broken body", "{not json"), ("a value of the wrong type", """{"usageLimit":"ten"}"""),
                     ("both kinds of value", """{"percentage":5,"fixedAmount":5}"""),
                     ("a clear of nothing it knows", """{"clear":["title",null]}"""),
                     ("a customer id that is no number", """{"customerIds":["a"]}"""),
                     ("a year out of range", """{"endsAt":"9999-12-31T00:00:00Z"}"""),
                 })
        {
            yield return ($"campaign edit with {what}", () => app.Admin(HttpMethod.Put, "/api/admin/campaigns/1", shop,
                new StringContent(json, Encoding.UTF8, "application/json")));
        }
        yield return ("code usage with a page too large", () => app.Admin(HttpMethod.Get, "/api/admin/coupons/X1/redemptions?limit=100000", shop));
        yield return ("code usage before an id that is not one", () => app.Admin(HttpMethod.Get, "/api/admin/coupons/X1/redemptions?before=x", shop));
        yield return ("code usage as xml", () => app.Admin(HttpMethod.Get, "/api/admin/coupons/X1/redemptions?format=xml", shop));
        yield return ("incidents filtered by a flag that is not one",
            () => app.Admin(HttpMethod.Get, "/api/admin/coupon-incidents?resolved=maybe", shop));
        yield return ("coupons of a customer that is not a number", () => app.Admin(HttpMethod.Get, "/api/admin/customers/abc/coupons", shop));
        yield return ("POS test against a private address", () => app.Admin(HttpMethod.Post, "/api/admin/settings/pos/test", shop,
            new StringContent("""{"posBaseUrl":"https://10.0.0.1","posApiKey":"k"}""", Encoding.UTF8, "application/json")));
        yield return ("POS test with credentials in the URL", () => app.Admin(HttpMethod.Post, "/api/admin/settings/pos/test", shop,
            new StringContent("""{"posBaseUrl":"https://user:pw@pos.example.com","posApiKey":"k"}""", Encoding.UTF8, "application/json")));
        foreach (var path in new[] { "/api/admin/settings", "/api/admin/campaigns", "/api/admin/coupons/validate", "/api/admin/event-endpoint",
                     "/api/admin/settings/pos/test" })
        {
            yield return ($"PUT/POST {path} with a broken body", () => app.Admin(path.EndsWith("/settings", StringComparison.Ordinal)
                || path.EndsWith("endpoint", StringComparison.Ordinal)
                ? HttpMethod.Put : HttpMethod.Post, path, shop, new StringContent("{not json", Encoding.UTF8, "application/json")));
        }
        yield return ("oauth callback with nothing", () => new HttpRequestMessage(HttpMethod.Get, "/auth/callback"));
        yield return ("oauth callback with a bad hmac", () => new HttpRequestMessage(HttpMethod.Get,
            $"/auth/callback?shop={shop}&code=x&state=y&timestamp=1&hmac=zz"));
        yield return ("oauth start with a bad hmac", () => new HttpRequestMessage(HttpMethod.Get, $"/auth?shop={shop}&hmac=00"));
        // .NET's $ matches before a final newline: each of these once passed its pattern.
        yield return ("oauth start with a shop ending in a newline", () => new HttpRequestMessage(HttpMethod.Get, $"/auth?shop={shop}%0A"));
        yield return ("admin page with a shop ending in a newline", () => new HttpRequestMessage(HttpMethod.Get, $"/admin?shop={shop}%0A"));
        yield return ("admin page with a shop that is not one", () => new HttpRequestMessage(HttpMethod.Get, "/admin?shop=evil.example.com"));
        yield return ("oauth callback with a shop ending in a newline", () => new HttpRequestMessage(HttpMethod.Get,
            $"/auth/callback?shop={shop}%0A&code=x&state=y&timestamp=1&hmac=zz"));
        yield return ("a campaign code ending in a newline", () =>
        {
            var r = app.Admin(HttpMethod.Post, "/api/admin/campaigns", shop,
                new StringContent("""{"title":"x","percentage":10,"code":"ABC\n"}""", Encoding.UTF8, "application/json"));
            r.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
            return r;
        });
    }

    private static HttpRequestMessage SignedWebhook(string topic, string body, string shop)
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(bytes) };
        request.Headers.Add("X-Shopify-Topic", topic);
        request.Headers.Add("X-Shopify-Shop-Domain", shop);
        request.Headers.Add("X-Shopify-Webhook-Id", Guid.NewGuid().ToString());
        request.Headers.Add("X-Shopify-Hmac-Sha256", Loyalty.ShopifyApp.Infrastructure.Shopify.ShopifySignatures.SignWebhook(bytes,
            LoyaltyApp.Secret));
        return request;
    }

    public static IEnumerable<(string What, Func<HttpRequestMessage> Request)> Generated(Random random, string shop)
    {
        var methods = new[] { HttpMethod.Get, HttpMethod.Post, HttpMethod.Put, HttpMethod.Delete };
        var tokens = new (string What, Func<string> Token)[]
        {
            ("another secret", () => SessionTokenMinter.Mint(Attacker, LoyaltyApp.ApiKey, shop)),
            ("expired", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, now: DateTimeOffset.UtcNow.AddHours(-2))),
            ("another audience", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, audience: "another-app")),
            ("alg none", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, alg: "none")),
            ("not before the future", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop,
                notBeforeOffset: TimeSpan.FromHours(1))),
            ("iss of another shop", () => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, issShop: "other.myshopify.com")),
            ("junk", () => Convert.ToBase64String(Bytes(random, 64))),
        };
        for (var round = 0; round < 3; round++)
        {
            foreach (var path in AdminPaths)
            foreach (var method in methods)
            foreach (var (what, token) in tokens)
            {
                yield return ($"{method} {path} with a token {what}", () => LoyaltyApp.AdminWithToken(method, path, token(),
                    Json("{\"points\":100}")));
            }
        }
        for (var i = 0; i < 330; i++)
        {
            foreach (var (method, path) in ProxyCalls)
            {
                var (what, query) = ForgedProxyQuery(random, path, shop);
                yield return ($"{method} {path} {what}", () => new HttpRequestMessage(method,
                    query) { Content = method == HttpMethod.Post ? Json("{\"points\":100,\"code\":\"X\"}") : null });
            }
        }
        for (var i = 0; i < 150; i++)
        {
            var topic = Topics[random.Next(Topics.Length)];
            var body = Bytes(random, random.Next(0, 300));
            var hmac = random.Next(3) switch { 0 => null, 1 => Convert.ToBase64String(Bytes(random, 32)),
                _ => Loyalty.ShopifyApp.Infrastructure.Shopify.ShopifySignatures.SignWebhook(body, Attacker) };
            yield return ($"webhook {topic} with {(hmac is null ? "no" : "a forged")} HMAC", () =>
            {
                var r = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(body) };
                r.Headers.Add("X-Shopify-Topic", topic);
                r.Headers.Add("X-Shopify-Shop-Domain", shop);
                r.Headers.Add("X-Shopify-Webhook-Id", Guid.NewGuid().ToString());
                if (hmac is not null) r.Headers.Add("X-Shopify-Hmac-Sha256", hmac);
                return r;
            });
        }
        for (var i = 0; i < 100; i++)
        {
            var named = random.Next(3) switch { 0 => shop + "%0A", 1 => "evil.example.com", _ => $"{shop}&shop=other.myshopify.com" };
            yield return ($"OAuth callback for {named} with a forged hmac", () => new HttpRequestMessage(HttpMethod.Get,
                $"/auth/callback?shop={named}&code=abc&state=s{random.Next()}&timestamp={DateTimeOffset.UtcNow.ToUnixTimeSeconds()}"
                + $"&hmac={Convert.ToHexString(Bytes(random, 32))}"));
            yield return ($"GET /admin?shop={named}", () => new HttpRequestMessage(HttpMethod.Get, $"/admin?shop={named}"));
        }
    }

    /// <summary>A proxy query Shopify never signed as it stands: each kind of forgery in turn, drawn from the seed.</summary>
    private static (string What, string Url) ForgedProxyQuery(Random random, string path, string shop)
    {
        var customer = random.Next(1, 100_000).ToString(System.Globalization.CultureInfo.InvariantCulture);
        List<KeyValuePair<string, string>> Query(string id, DateTimeOffset? at = null) =>
        [
            new("shop", shop), new("logged_in_customer_id", id), new("path_prefix", "/apps/loyalty"),
            new("timestamp", (at ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture)),
        ];
        return random.Next(6) switch
        {
            0 => ("signed with another secret", LoyaltyApp.SignedProxyPath(path, Query(customer), Attacker)),
            1 => ("signed 10 minutes ago", LoyaltyApp.SignedProxyPath(path, Query(customer, DateTimeOffset.UtcNow.AddMinutes(-10)))),
            2 => ("with the customer twice", LoyaltyApp.SignedProxyPath(path, [.. Query(customer), new("logged_in_customer_id", "")])),
            3 => ("with a customer spelt otherwise", LoyaltyApp.SignedProxyPath(path,
                Query(random.Next(3) switch { 0 => "+" + customer, 1 => "0" + customer, _ => " " + customer }))),
            4 => ("with the shop twice", LoyaltyApp.SignedProxyPath(path, [.. Query(customer), new("shop", "other.myshopify.com")])),
            _ => ("with its signature altered", LoyaltyApp.SignedProxyPath(path, Query(customer)).Replace("signature=", "signature=0",
                StringComparison.Ordinal)),
        };
    }

    private static byte[] Bytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
}
