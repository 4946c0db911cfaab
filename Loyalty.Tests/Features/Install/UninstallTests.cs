namespace Loyalty.Tests.Features.Install;

/// <summary>app/uninstalled stops the shop's work and deletes its tokens; reinstalling starts from a clean token state.</summary>
public sealed class UninstallTests(RecordingApp app) : AppTests<RecordingApp>(app)
{
    [Fact]
    public async Task Uninstall_marks_the_shop_uninstalled_deletes_its_tokens_and_reinstall_exchanges_afresh()
    {
        var shop = Shop;
        var firstInstall = await App.ScalarAsync<DateTime>("SELECT installed_at FROM shops WHERE shop_domain = @shop", new { shop });

        await App.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "u-" + shop);
        await App.WaitForDeliveryAsync("u-" + shop, "processed");

        Assert.Equal("uninstalled", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
        var proxy = await App.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/session", shop, 5));
        Assert.Equal(HttpStatusCode.Unauthorized, proxy.StatusCode);

        // The merchant installs again: the next session token goes through token exchange.
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, Shopify.TokenCalls(shop, "token-exchange").Count);
        Assert.Equal("installed", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.True(await App.ScalarAsync<DateTime>("SELECT installed_at FROM shops WHERE shop_domain = @shop", new { shop }) > firstInstall);
    }

    [Fact]
    public async Task An_uninstall_while_a_refresh_is_in_flight_leaves_no_token_behind()
    {
        var shop = Shop;
        await App.EditTokenAsync(shop, "UPDATE shop_tokens SET access_token_expires_at = now() + interval '60 seconds' WHERE shop_domain = @shop");
        Shopify.StubRefresh(shop, "shprt_exchanged", "shpat_late", "shprt_late", delay: TimeSpan.FromSeconds(1.5));
        var refresh = App.Services.GetRequiredService<Loyalty.ShopifyApp.Infrastructure.Shopify.AccessTokens>().GetAsync(shop, default);
        // In flight: it holds the shop's token lock while Shopify takes 1.5 s to answer.
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<bool>("""
            SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database
                           WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()
                             AND (l.classid::bigint << 32 | l.objid::bigint) = hashtextextended('shop-token:' || @shop, 0))
            """, new { shop }), "the refresh on its way to Shopify, holding the shop's token lock");

        await App.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "u-" + shop);
        Assert.Equal("shpat_late", await refresh);
        await App.WaitForDeliveryAsync("u-" + shop, "processed");

        // Before the fix the refresh stored its pair after the uninstall had deleted the tokens: a dead token kept for a reinstall.
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
    }

    [Fact]
    public async Task Pending_work_of_an_uninstalled_shop_is_skipped()
    {
        var shop = Shop;
        await App.ScalarAsync<int>("INSERT INTO test_failing (webhook_id) VALUES (@id)", new { id = "work-" + shop });
        await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: "work-" + shop);

        await App.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "u-" + shop);
        await App.WaitForDeliveryAsync("u-" + shop, "processed");
        await App.ScalarAsync<int>("DELETE FROM test_failing WHERE webhook_id = @id", new { id = "work-" + shop });

        await App.WaitForDeliveryAsync("work-" + shop, "skipped");
        Assert.Equal(0, await RecordingHandler.RunsAsync(App, "work-" + shop));
    }

    [Fact]
    public async Task A_late_uninstall_from_before_the_current_installation_is_ignored()
    {
        var shop = Shop;

        await App.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "old-" + shop,
            triggeredAt: DateTimeOffset.UtcNow.AddHours(-3));
        await App.WaitForDeliveryAsync("old-" + shop, "processed");

        Assert.Equal("installed", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
    }
}
