using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Features.Install;

/// <summary>Shopify managed install: the first session token for a shop is exchanged for an expiring offline token.</summary>
public sealed class TokenExchangeTests(AppFixture app) : AppTests<AppFixture>(app)
{
    [Fact]
    public async Task First_session_token_exchanges_for_an_expiring_offline_token_stored_encrypted()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubTokenExchange(shop, "shpat_secret_access_value", refreshToken: "shprt_secret_refresh_value");
        Shopify.StubShopDetails(shop, name: "Cool Shop", currency: "EUR", timezone: "Europe/Berlin");
        var sessionToken = App.SessionToken(shop);

        var response = await App.Http.SendAsync(LoyaltyApp.AdminWithToken(HttpMethod.Get, "/api/admin/shop", sessionToken));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("shpat_", body);
        Assert.DoesNotContain("shprt_", body);
        Assert.Contains("\"currency\":\"EUR\"", body);

        var exchange = Assert.Single(Shopify.TokenCalls(shop, "token-exchange"));
        var form = exchange.RequestMessage!.Body!;
        Assert.Contains("expiring=1", form);
        Assert.Contains("subject_token=" + sessionToken, form);
        Assert.Contains("requested_token_type=urn%3Ashopify%3Aparams%3Aoauth%3Atoken-type%3Aoffline-access-token", form);
        Assert.Contains($"client_id={LoyaltyApp.ApiKey}", form);

        await using var conn = await App.Db.OpenConnectionAsync();
        var row = await conn.QuerySingleAsync<(string Access, string Refresh, DateTime AccessExpires, DateTime RefreshExpires, string Via)>(
            "SELECT access_token_protected, refresh_token_protected, access_token_expires_at, refresh_token_expires_at, obtained_via FROM " +
                "shop_tokens WHERE shop_domain = @shop",
            new { shop });
        Assert.DoesNotContain("shpat_secret_access_value", row.Access);
        Assert.DoesNotContain("shprt_secret_refresh_value", row.Refresh);
        Assert.InRange(row.AccessExpires, DateTime.UtcNow.AddMinutes(55), DateTime.UtcNow.AddMinutes(61));
        Assert.InRange(row.RefreshExpires, DateTime.UtcNow.AddDays(89), DateTime.UtcNow.AddDays(91));
        Assert.Equal("token_exchange", row.Via);
        Assert.Equal("shpat_secret_access_value", await App.Services.GetRequiredService<AccessTokens>().GetAsync(shop, default));
    }

    [Fact]
    public async Task Later_requests_use_the_stored_token_without_exchanging_again()
    {
        var shop = Shop;

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop))).StatusCode);
        }
        Assert.Single(Shopify.TokenCalls(shop, "token-exchange"));
    }

    [Fact]
    public async Task Concurrent_first_requests_exchange_only_once()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubTokenExchange(shop);
        Shopify.StubShopDetails(shop);

        var responses = await Task.WhenAll(Enumerable.Range(0, 8)
            .Select(_ => App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop))));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        Assert.Single(Shopify.TokenCalls(shop, "token-exchange"));
    }

    [Fact]
    public async Task A_session_token_Shopify_refuses_to_exchange_gets_401_with_the_retry_header()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubTokenExchange(shop, status: 400);

        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("1", response.Headers.GetValues("X-Shopify-Retry-Invalid-Session-Request").Single());
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
    }

    [Fact]
    public async Task Shopify_down_during_the_exchange_gets_503_with_retry_after()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubTokenExchange(shop, status: 503);

        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.NotNull(response.Headers.RetryAfter);
        Assert.Contains("shopify_unavailable", await response.Content.ReadAsStringAsync());
    }
}
