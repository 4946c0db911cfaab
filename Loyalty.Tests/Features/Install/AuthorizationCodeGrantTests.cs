using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.WebUtilities;

namespace Loyalty.Tests.Features.Install;

/// <summary>The authorization code grant (standalone installs): state, HMAC, shop and timestamp are all checked.</summary>
public sealed class AuthorizationCodeGrantTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private async Task<(string State, string Cookie)> BeginAsync(string shop)
    {
        var response = await App.Http.GetAsync($"/auth?shop={shop}");
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var location = response.Headers.Location!;
        Assert.StartsWith($"{Shopify.Server.Url}/{shop}/admin/oauth/authorize?", location.ToString());
        var query = QueryHelpers.ParseQuery(location.Query);
        Assert.Equal(LoyaltyApp.ApiKey, query["client_id"]);
        Assert.Equal("https://loyalty.test/auth/callback", query["redirect_uri"]);
        Assert.Equal("read_orders,write_customers,write_discounts,write_app_proxy", query["scope"]);
        var setCookie = response.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("loyalty_oauth_state=", StringComparison.Ordinal));
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", setCookie, StringComparison.OrdinalIgnoreCase);
        return (query["state"]!, setCookie.Split(';')[0]);
    }

    private static string SignedCallback(string shop, string code, string state, long? timestamp = null, string secret = LoyaltyApp.Secret)
    {
        var ts = (timestamp ?? DateTimeOffset.UtcNow.ToUnixTimeSeconds()).ToString();
        var message = $"code={code}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvY29vbA&shop={shop}&state={state}&timestamp={ts}";
        return $"/auth/callback?{message}&hmac={ShopifySignatures.HexHmac(message, secret)}";
    }

    private Task<HttpResponseMessage> CallbackAsync(string url, string? cookie)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (cookie is not null) request.Headers.Add("Cookie", cookie);
        return App.Http.SendAsync(request);
    }

    [Fact]
    public async Task A_complete_grant_stores_the_token_and_lands_the_merchant_in_the_app()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubCodeExchange(shop, "code123");
        Shopify.StubShopDetails(shop);
        var (state, cookie) = await BeginAsync(shop);

        var response = await CallbackAsync(SignedCallback(shop, "code123", state), cookie);

        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal($"{Shopify.Server.Url}/{shop}/admin/apps/{LoyaltyApp.ApiKey}", response.Headers.Location!.ToString());
        var exchange = Assert.Single(Shopify.TokenCalls(shop, "code=code123"));
        Assert.Contains("expiring=1", exchange.RequestMessage!.Body);
        Assert.Equal("authorization_code", await App.ScalarAsync<string>("SELECT obtained_via FROM shop_tokens WHERE shop_domain = @shop",
            new { shop }));
        Assert.Equal("installed", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
    }

    [Fact]
    public async Task The_state_is_single_use()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubCodeExchange(shop, "code123");
        Shopify.StubShopDetails(shop);
        var (state, cookie) = await BeginAsync(shop);
        Assert.Equal(HttpStatusCode.Redirect, (await CallbackAsync(SignedCallback(shop, "code123", state), cookie)).StatusCode);

        var replay = await CallbackAsync(SignedCallback(shop, "code123", state), cookie);

        Assert.Equal(HttpStatusCode.Unauthorized, replay.StatusCode);
        Assert.Contains("invalid_state", await replay.Content.ReadAsStringAsync());
        Assert.Single(Shopify.TokenCalls(shop, "code=code123"));
    }

    [Fact]
    public async Task A_callback_without_this_browsers_cookie_is_refused()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubCodeExchange(shop, "code123");
        var (state, _) = await BeginAsync(shop);
        var (_, otherBrowsersCookie) = await BeginAsync(shop);

        Assert.Equal(HttpStatusCode.Unauthorized, (await CallbackAsync(SignedCallback(shop, "code123", state), null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await CallbackAsync(SignedCallback(shop, "code123", state), otherBrowsersCookie)).StatusCode);
        Assert.Empty(Shopify.TokenCalls(shop, "code=code123"));
    }

    [Fact]
    public async Task A_callback_with_a_bad_hmac_old_timestamp_or_foreign_shop_is_refused_without_exchanging()
    {
        var shop = LoyaltyApp.NewShop();
        Shopify.StubCodeExchange(shop, "code123");
        var (state, cookie) = await BeginAsync(shop);

        var wrongSecret = await CallbackAsync(SignedCallback(shop, "code123", state, secret: "shpss_wrong_secret_0123456789abcdef0123"), cookie);
        var tampered = await CallbackAsync(SignedCallback(shop, "code123", state).Replace("code=code123", "code=code999"), cookie);
        var stale = await CallbackAsync(SignedCallback(shop, "code123", state, DateTimeOffset.UtcNow.AddMinutes(-10).ToUnixTimeSeconds()), cookie);
        var badShop = await CallbackAsync(SignedCallback("evil.com", "code123", state), cookie);

        Assert.Equal(HttpStatusCode.Unauthorized, wrongSecret.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, tampered.StatusCode);
        Assert.Contains("stale_request", await stale.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.BadRequest, badShop.StatusCode);
        Assert.Empty(Shopify.TokenCalls(shop, "code="));
        // The state was not consumed by the refused attempts: the genuine callback still works.
        Shopify.StubShopDetails(shop);
        Assert.Equal(HttpStatusCode.Redirect, (await CallbackAsync(SignedCallback(shop, "code123", state), cookie)).StatusCode);
    }

    [Theory]
    [InlineData("evil.com")]
    [InlineData("evil.com%3Fx%3D.myshopify.com")]
    [InlineData("")]
    public async Task Starting_the_grant_for_something_that_is_not_a_shop_is_refused(string shop)
    {
        var response = await App.Http.GetAsync($"/auth?shop={shop}");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("invalid_shop", await response.Content.ReadAsStringAsync());
    }
}
