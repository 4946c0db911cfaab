namespace Loyalty.Tests.Features.Storefront;

/// <summary>Every /proxy request is verified exactly as Shopify signs it before anything runs.</summary>
public sealed class AppProxyTests(AppFixture app) : AppTests<AppFixture>(app)
{
    [Fact]
    public async Task A_signed_request_knows_the_shop_and_the_logged_in_customer()
    {
        var response = await App.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/session", Shop, 777,
            extra: [new("extra", "1"), new("extra", "2")]));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(Shop, body.GetProperty("shop").GetString());
        Assert.Equal(777, body.GetProperty("customerId").GetInt64());
        Assert.True(body.GetProperty("loggedIn").GetBoolean());
    }

    [Fact]
    public async Task A_visitor_who_is_not_logged_in_has_no_customer()
    {
        var body = await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/session", Shop, null));

        Assert.False(body.GetProperty("loggedIn").GetBoolean());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("customerId").ValueKind);
    }

    public static TheoryData<string, string> Forgeries => new()
    {
        { "customer id changed after signing", "customer" },
        { "signed with another secret", "secret" },
        { "no signature", "nosig" },
        { "two shops", "twoshops" },
        { "timestamp five minutes old", "old" },
        { "timestamp five minutes ahead", "future" },
        { "shop not installed", "stranger" },
        { "customer id not a number", "nan" },
        { "shop is not a shop domain", "evil" },
    };

    [Theory]
    [MemberData(nameof(Forgeries))]
    public async Task A_forged_or_stale_proxy_request_gets_401(string why, string how)
    {
        var path = how switch
        {
            "customer" => LoyaltyApp.ProxyPath("/proxy/api/session", Shop, 777).Replace("logged_in_customer_id=777", "logged_in_customer_id=778"),
            "secret" => LoyaltyApp.ProxyPath("/proxy/api/session", Shop, 777, secret: "shpss_other_secret_0123456789abcdef0123"),
            "nosig" => LoyaltyApp.ProxyPath("/proxy/api/session", Shop, 777).Split("&signature=")[0],
            "twoshops" => LoyaltyApp.ProxyPath("/proxy/api/session", Shop, 777, extra: [new("shop", "other.myshopify.com")]),
            "old" => LoyaltyApp.ProxyPath("/proxy/api/session", Shop, 777, DateTimeOffset.UtcNow.AddMinutes(-5)),
            "future" => LoyaltyApp.ProxyPath("/proxy/api/session", Shop, 777, DateTimeOffset.UtcNow.AddMinutes(5)),
            "stranger" => LoyaltyApp.ProxyPath("/proxy/api/session", LoyaltyApp.NewShop(), 777),
            "nan" => LoyaltyApp.ProxyPath("/proxy/api/session", Shop, null).Replace("logged_in_customer_id=", "logged_in_customer_id=abc"),
            _ => LoyaltyApp.ProxyPath("/proxy/api/session", "evil.com", 777),
        };

        var response = await App.Http.GetAsync(path);

        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, $"{why}: {(int)response.StatusCode}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }

    public static TheoryData<string, string[]> AmbiguousIdentities => new()
    {
        { "customer id, then an empty one", ["logged_in_customer_id=1002", "logged_in_customer_id="] },
        { "an empty customer id, then one", ["logged_in_customer_id=", "logged_in_customer_id=1002"] },
        { "the same customer id twice", ["logged_in_customer_id=1002", "logged_in_customer_id=1002"] },
        { "customer id with a plus sign", ["logged_in_customer_id=+1002"] },
        { "customer id with a leading space", ["logged_in_customer_id= 1002"] },
        { "customer id with a trailing space", ["logged_in_customer_id=1002 "] },
        { "customer id with a leading zero", ["logged_in_customer_id=01002"] },
        { "customer id zero", ["logged_in_customer_id=0"] },
        { "customer id negative", ["logged_in_customer_id=-1002"] },
        { "customer id in other digits", ["logged_in_customer_id=\u0661\u0660\u0660\u0662"] },
        { "customer id too large", ["logged_in_customer_id=99999999999999999999"] },
        { "customer id under another spelling of its name", ["logged_in_customer_id=", "Logged_In_Customer_Id=1002"] },
        { "two path prefixes", ["logged_in_customer_id=1002", "path_prefix=/apps/other"] },
        { "two timestamps", ["logged_in_customer_id=1002", "timestamp=1"] },
        { "two shops", ["logged_in_customer_id=1002", "shop=other.myshopify.com"] },
    };

    /// <summary>
    /// Shopify joins repeated values with commas before signing, so a storefront URL carrying its own
    /// <c>logged_in_customer_id</c> yields a valid signature over two customer ids: the app must refuse, not pick one.
    /// </summary>
    [Theory]
    [MemberData(nameof(AmbiguousIdentities))]
    public async Task A_signed_proxy_request_with_an_ambiguous_or_malformed_identity_gets_401(string why, string[] parameters)
    {
        // Shopify's own parameters, with the customer's position taken by the case's parameters.
        var query = new List<KeyValuePair<string, string>> { new("shop", Shop) };
        foreach (var p in parameters)
        {
            query.Add(new(p[..p.IndexOf('=')], p[(p.IndexOf('=') + 1)..]));
        }
        query.Add(new("path_prefix", "/apps/loyalty"));
        query.Add(new("timestamp", DateTimeOffset.UtcNow.ToUnixTimeSeconds().ToString()));

        var response = await App.Http.GetAsync(LoyaltyApp.SignedProxyPath("/proxy/api/session", query));

        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized,
            $"{why}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid_proxy_signature", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }
}
