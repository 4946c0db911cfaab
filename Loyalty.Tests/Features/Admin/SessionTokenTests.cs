namespace Loyalty.Tests.Features.Admin;

/// <summary>Everything under /api/admin needs a Shopify session token that is valid in every respect.</summary>
public sealed class SessionTokenTests(AppFixture app) : AppTests<AppFixture>(app)
{
    [Fact]
    public async Task A_valid_session_token_reaches_the_admin_api_for_the_shop_named_in_dest()
    {
        var shop = Shop;

        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<Dictionary<string, object>>();
        Assert.Equal(shop, body!["shop"].ToString());
        Assert.Equal("installed", body["state"].ToString());
    }

    public static TheoryData<string, Func<string, string>> BadTokens => new()
    {
        { "expired", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, DateTimeOffset.UtcNow.AddMinutes(-2)) },
        { "expired 15 s ago, beyond the 10 s skew", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop,
            DateTimeOffset.UtcNow.AddSeconds(-75), TimeSpan.FromMinutes(1)) },
        { "not yet valid", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, notBeforeOffset: TimeSpan.FromSeconds(30)) },
        { "wrong audience", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, audience: "another-app") },
        { "signed with another secret", shop => SessionTokenMinter.Mint("shpss_some_other_secret_0123456789abcdef", LoyaltyApp.ApiKey, shop) },
        { "alg none", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, alg: "none") },
        { "iss names a foreign shop", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop,
            issShop: "other-shop.myshopify.com") },
        { "dest is not a shop", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, "evil.example.com",
            issShop: "evil.example.com") },
        { "dest is plain http", shop => SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, dest: $"http://{shop}") },
        { "garbage", _ => "not.a.jwt" },
    };

    [Theory]
    [MemberData(nameof(BadTokens))]
    public async Task An_invalid_session_token_gets_401_with_the_retry_header_and_installs_nothing(string why, Func<string, string> token)
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubTokenExchange(shop);

        var response = await App.Http.SendAsync(LoyaltyApp.AdminWithToken(HttpMethod.Get, "/api/admin/shop", token(shop)));

        Assert.True(response.StatusCode == HttpStatusCode.Unauthorized, why);
        Assert.Equal("1", response.Headers.GetValues("X-Shopify-Retry-Invalid-Session-Request").Single());
        Assert.Contains("invalid_session_token", await response.Content.ReadAsStringAsync());
        Assert.Empty(Shopify.Calls(shop, "/admin/oauth/access_token"));
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM shops WHERE shop_domain = @shop", new { shop }));
    }

    [Fact]
    public async Task A_missing_session_token_gets_401_with_the_retry_header()
    {
        var response = await App.Http.SendAsync(LoyaltyApp.AdminWithToken(HttpMethod.Get, "/api/admin/shop", null));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("X-Shopify-Retry-Invalid-Session-Request").Single());
    }

    [Fact]
    public async Task A_token_expired_5_s_ago_is_still_accepted_within_the_10_s_skew()
    {
        var shop = Shop;
        var token = SessionTokenMinter.Mint(LoyaltyApp.Secret, LoyaltyApp.ApiKey, shop, DateTimeOffset.UtcNow.AddSeconds(-65),
            TimeSpan.FromMinutes(1));

        var response = await App.Http.SendAsync(LoyaltyApp.AdminWithToken(HttpMethod.Get, "/api/admin/shop", token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
