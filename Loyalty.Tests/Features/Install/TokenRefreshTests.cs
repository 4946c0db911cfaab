using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Features.Install;

/// <summary>Expiring offline tokens are refreshed before they expire and after a 401, one refresh at a time per shop.</summary>
public sealed class TokenRefreshTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private AccessTokens Tokens => App.Services.GetRequiredService<AccessTokens>();

    private ShopifyGraphQLClient GraphQL => App.Services.GetRequiredService<ShopifyGraphQLClient>();

    [Fact]
    public async Task A_token_close_to_expiry_is_refreshed_and_the_new_pair_stored_before_use()
    {
        var shop = LoyaltyApp.NewShop();
        // Shopify grants a token with two minutes left; the install's first Admin API call must refresh it first.
        Shopify.StubTokenExchange(shop, "shpat_old", expiresIn: 120, refreshToken: "shprt_old");
        Shopify.StubRefresh(shop, "shprt_old", "shpat_new", "shprt_new");
        Shopify.StubShopDetails(shop, acceptedToken: "shpat_new");

        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));

        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"currency\":\"EUR\"", await response.Content.ReadAsStringAsync());
        var refresh = Assert.Single(Shopify.TokenCalls(shop, "grant_type=refresh_token"));
        Assert.Contains("refresh_token=shprt_old", refresh.RequestMessage!.Body);
        var graphQlCall = Assert.Single(Shopify.Server.LogEntries, e => e.RequestMessage!.Path == ShopifyFake.GraphQLPath(shop));
        Assert.Equal("shpat_new", graphQlCall.RequestMessage!.Headers!["X-Shopify-Access-Token"].Single());
        Assert.Equal("refresh", await App.ScalarAsync<string>("SELECT obtained_via FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
        Assert.Equal("shpat_new", await Tokens.GetAsync(shop, default)); // stored: no second refresh
        Assert.Single(Shopify.TokenCalls(shop, "grant_type=refresh_token"));
    }

    private Task ExpireSoonAsync(string shop) => App.EditTokenAsync(shop,
        "UPDATE shop_tokens SET access_token_expires_at = now() + interval '60 seconds' WHERE shop_domain = @shop");

    [Fact]
    public async Task A_401_from_the_admin_api_refreshes_once_and_resends()
    {
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop, accessToken: "shpat_revoked", refreshToken: "shprt_1");
        Shopify.StubGraphQLUnauthorized(shop, "shpat_revoked");
        Shopify.StubRefresh(shop, "shprt_1", "shpat_fresh", "shprt_2");
        Shopify.StubShopDetails(shop, acceptedToken: "shpat_fresh");

        var data = await GraphQL.QueryAsync(shop, "query ShopDetails { shop { name currencyCode ianaTimezone } }", null, default);

        Assert.Equal("EUR", data.GetProperty("shop").GetProperty("currencyCode").GetString());
        Assert.Single(Shopify.TokenCalls(shop, "grant_type=refresh_token"));
    }

    [Fact]
    public async Task Concurrent_callers_with_an_expiring_token_cause_a_single_refresh()
    {
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop, accessToken: "shpat_old", refreshToken: "shprt_old");
        await ExpireSoonAsync(shop);
        Shopify.StubRefresh(shop, "shprt_old", "shpat_new", "shprt_new", delay: TimeSpan.FromMilliseconds(300));

        var tokens = await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Tokens.GetAsync(shop, default)));

        Assert.All(tokens, t => Assert.Equal("shpat_new", t));
        Assert.Single(Shopify.TokenCalls(shop, "grant_type=refresh_token"));
    }

    [Fact]
    public async Task A_rejected_refresh_token_forgets_the_token_so_the_next_session_token_exchanges_again()
    {
        var shop = Shop;
        await ExpireSoonAsync(shop);
        Shopify.StubRefreshRejected(shop);

        await Assert.ThrowsAsync<ShopNotAuthorizedException>(() => Tokens.GetAsync(shop, default));

        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, Shopify.TokenCalls(shop, "token-exchange").Count);
    }

    [Theory]
    [InlineData(401, "invalid_client")] // the app's API secret is wrong or was rotated: every shop's refresh is refused alike
    [InlineData(400, "invalid_request")]
    public async Task A_refresh_refused_for_a_reason_other_than_the_refresh_token_keeps_the_stored_token(int status, string error)
    {
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop, accessToken: "shpat_keep", refreshToken: "shprt_keep");
        await ExpireSoonAsync(shop);
        Shopify.StubRefreshRejected(shop, status, error);

        // Before the fix: ShopNotAuthorizedException, and the token deleted (the merchant locked out until they open the app).
        await Assert.ThrowsAsync<ShopifyUnavailableException>(() => Tokens.GetAsync(shop, default));

        Assert.Single(Shopify.TokenCalls(shop, "grant_type=refresh_token"));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
        Assert.Contains($"Shopify refused to refresh the token of {shop} with {status} ({error})", App.Log.Tail(contains: shop));
    }

    [Fact]
    public async Task An_unexpected_answer_from_the_token_endpoint_keeps_the_stored_token()
    {
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop, accessToken: "shpat_keep", refreshToken: "shprt_keep");
        await ExpireSoonAsync(shop); // no refresh stub: the fake answers 404

        await Assert.ThrowsAsync<ShopifyUnavailableException>(() => Tokens.GetAsync(shop, default));

        Assert.Single(Shopify.TokenCalls(shop, "grant_type=refresh_token"));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
    }
}
