using System.Net;
using Loyalty.Tests.Infrastructure;

namespace Loyalty.Tests.Features.Install;

/// <summary>app/uninstalled stops the shop's work and deletes its tokens; reinstalling starts from a clean token state.</summary>
public sealed class UninstallTests : IAsyncLifetime
{
    private readonly ShopifyFake _shopify = new();
    private LoyaltyApp _app = null!;

    public async Task InitializeAsync() => _app = await LoyaltyApp.StartAsync(_shopify, services: RecordingHandler.Register);

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _shopify.Dispose();
    }

    [Fact]
    public async Task Uninstall_marks_the_shop_uninstalled_deletes_its_tokens_and_reinstall_exchanges_afresh()
    {
        var shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, shop);
        var firstInstall = await _app.ScalarAsync<DateTime>("SELECT installed_at FROM shops WHERE shop_domain = @shop", new { shop });

        await _app.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "u-" + shop);
        await _app.WaitForDeliveryAsync("u-" + shop, "processed");

        Assert.Equal("uninstalled", await _app.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(0L, await _app.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
        var proxy = await _app.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/session", shop, 5));
        Assert.Equal(HttpStatusCode.Unauthorized, proxy.StatusCode);

        // The merchant installs again: the next session token goes through token exchange.
        var response = await _app.Http.SendAsync(_app.Admin(HttpMethod.Get, "/api/admin/shop", shop));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(2, _shopify.TokenCalls(shop, "token-exchange").Count);
        Assert.Equal("installed", await _app.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.True(await _app.ScalarAsync<DateTime>("SELECT installed_at FROM shops WHERE shop_domain = @shop", new { shop }) > firstInstall);
    }

    [Fact]
    public async Task Pending_work_of_an_uninstalled_shop_is_skipped()
    {
        var shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, shop);
        await _app.ScalarAsync<int>("INSERT INTO test_failing (webhook_id) VALUES (@id)", new { id = "work-" + shop });
        await _app.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: "work-" + shop);

        await _app.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "u-" + shop);
        await _app.WaitForDeliveryAsync("u-" + shop, "processed");
        await _app.ScalarAsync<int>("DELETE FROM test_failing WHERE webhook_id = @id", new { id = "work-" + shop });

        await _app.WaitForDeliveryAsync("work-" + shop, "skipped");
        Assert.Equal(0, await RecordingHandler.RunsAsync(_app, "work-" + shop));
    }

    [Fact]
    public async Task A_late_uninstall_from_before_the_current_installation_is_ignored()
    {
        var shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, shop);

        await _app.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "old-" + shop, triggeredAt: DateTimeOffset.UtcNow.AddHours(-3));
        await _app.WaitForDeliveryAsync("old-" + shop, "processed");

        Assert.Equal("installed", await _app.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(1L, await _app.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
    }
}
