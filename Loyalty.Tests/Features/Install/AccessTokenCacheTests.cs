using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.DataProtection;
using System.Globalization;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Loyalty.Tests.Features.Install;

/// <summary>
/// A process keeps an access token it read for <c>Shopify:AccessTokenCacheSeconds</c>, so a saga's calls to one shop read
/// <c>shop_tokens</c> once. What another instance changed meanwhile shows through Shopify's 401, without a refresh; an uninstall this
/// instance handles drops the token at once. The app here keeps tokens a minute, so no test depends on how fast it runs.
/// </summary>
public sealed class AccessTokenCacheTests(AccessTokenCacheTests.KeepingApp app) : AppTests<AccessTokenCacheTests.KeepingApp>(app)
{
    public sealed class KeepingApp() : AppFixture(new() { ["Shopify:AccessTokenCacheSeconds"] = "60" });

    private const string ShopDetails = "query ShopDetails { shop { name currencyCode ianaTimezone } }";

    private ShopifyGraphQLClient GraphQL => App.Services.GetRequiredService<ShopifyGraphQLClient>();

    [Fact]
    public async Task A_token_another_instance_replaced_is_sent_until_Shopify_refuses_it_then_the_stored_one_without_a_refresh()
    {
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop, accessToken: "shpat_a", refreshToken: "shprt_a"); // its shop-details call keeps shpat_a
        // Another instance refreshed: the database holds shpat_b, and Shopify no longer takes shpat_a.
        var protector = App.Services.GetRequiredService<IDataProtectionProvider>().CreateProtector("Loyalty.ShopTokens.v1");
        await App.ScalarAsync<int>("UPDATE shop_tokens SET access_token_protected = @token WHERE shop_domain = @shop RETURNING 1",
            new { shop, token = protector.Protect("shpat_b") });
        Shopify.StubGraphQLUnauthorized(shop, "shpat_a");

        await GraphQL.QueryAsync(shop, ShopDetails, null, default);
        await GraphQL.QueryAsync(shop, ShopDetails, null, default);

        await Shopify.Server.SettledAsync();
        var sent = Shopify.Server.LogEntries.Where(e => e.RequestMessage!.Path == ShopifyFake.GraphQLPath(shop))
            .OrderBy(e => e.RequestMessage!.DateTime).Select(e => e.RequestMessage!.Headers!["X-Shopify-Access-Token"].Single()).ToList();
        // The install's call, the kept token refused, the stored one; then the stored one read once more and kept.
        Assert.Equal(["shpat_a", "shpat_a", "shpat_b", "shpat_b"], sent);
        Assert.Empty(Shopify.TokenCalls(shop, "grant_type=refresh_token"));
    }

    [Fact]
    public async Task An_uninstall_this_instance_handles_drops_the_kept_token_at_once()
    {
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop); // its shop-details call keeps the token
        var tokens = App.Services.GetRequiredService<AccessTokens>();
        Assert.Equal("shpat_exchanged", await tokens.GetAsync(shop, default));

        await App.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "u-" + shop);
        await App.WaitForDeliveryAsync("u-" + shop, "processed");

        // The drop follows the uninstall's commit (moments after "processed" shows); the token was kept for a minute.
        await LoyaltyApp.WaitUntilAsync(async () =>
        {
            try
            {
                await tokens.GetAsync(shop, default);
                return false;
            }
            catch (ShopNotAuthorizedException)
            {
                return true;
            }
        }, "the kept token dropped", timeoutMs: 10_000);
    }

    [Fact]
    public void A_token_is_kept_for_the_period_never_into_its_refresh_window_and_not_when_a_drop_came_while_it_was_read()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-04T12:00:00Z", CultureInfo.InvariantCulture));
        var options = Options.Create(new ShopifyOptions { AccessTokenCacheSeconds = 5, RefreshBeforeExpirySeconds = 300 });
        var cache = new AccessTokenCache(options, clock);

        cache.Keep("a.myshopify.com", "shpat_a", clock.GetUtcNow().AddHours(1), cache.Version);
        Assert.True(cache.TryGet("a.myshopify.com", out var token));
        Assert.Equal("shpat_a", token);
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.False(cache.TryGet("a.myshopify.com", out _));

        cache.Keep("b.myshopify.com", "shpat_b", clock.GetUtcNow().AddSeconds(302), cache.Version);
        Assert.True(cache.TryGet("b.myshopify.com", out _));
        clock.Advance(TimeSpan.FromSeconds(3)); // inside the refresh window: the database's path refreshes it
        Assert.False(cache.TryGet("b.myshopify.com", out _));

        var readAt = cache.Version;
        cache.Drop("c.myshopify.com"); // a refresh committed while the token was being read
        cache.Keep("c.myshopify.com", "shpat_old", null, readAt);
        Assert.False(cache.TryGet("c.myshopify.com", out _));

        var off = new AccessTokenCache(Options.Create(new ShopifyOptions { AccessTokenCacheSeconds = 0 }), clock);
        off.Keep("d.myshopify.com", "shpat_d", null, off.Version);
        Assert.False(off.TryGet("d.myshopify.com", out _));
    }
}
