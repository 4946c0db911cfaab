using Loyalty.ShopifyApp.Features.Webhooks;
using Microsoft.Extensions.Time.Testing;

namespace Loyalty.Tests.Features.Webhooks;

/// <summary>
/// The intake remembers for a while that a shop is installed (<see cref="InstalledShops"/>): an uninstall this instance handles
/// ends that at once, and a delivery taken in for a shop another instance uninstalled meanwhile is skipped by the processor.
/// The app here remembers for five minutes, so no test depends on how fast it runs.
/// </summary>
public sealed class InstalledShopMemoryTests(InstalledShopMemoryTests.LongMemoryApp app) : AppTests<InstalledShopMemoryTests.LongMemoryApp>(app)
{
    public sealed class LongMemoryApp() : AppFixture(new() { ["Webhooks:InstalledShopCacheSeconds"] = "300" }, RecordingHandler.Register);

    [Fact]
    public async Task After_the_uninstall_this_instance_stores_none_of_the_shops_deliveries_though_it_found_the_shop_installed_moments_before()
    {
        var shop = Shop;
        await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: "before-" + shop); // the intake now knows it installed
        await App.WaitForDeliveryAsync("before-" + shop, "processed");

        await App.PostWebhookAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", webhookId: "u-" + shop);
        await App.WaitForDeliveryAsync("u-" + shop, "processed");
        await App.PostWebhookAsync("test/effect", shop, """{"id":2}""", webhookId: "after-" + shop);

        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = @id", new { id = "after-" + shop }));
    }

    [Fact]
    public async Task A_delivery_for_a_shop_another_instance_just_uninstalled_is_skipped_by_the_processor()
    {
        var shop = Shop;
        await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: "before-" + shop);
        await App.WaitForDeliveryAsync("before-" + shop, "processed");
        // Another instance handled the uninstall: this one still takes the shop for installed.
        await App.ScalarAsync<int>("UPDATE shops SET state = 'uninstalled' WHERE shop_domain = @shop RETURNING 1", new { shop });

        await App.PostWebhookAsync("test/effect", shop, """{"id":2}""", webhookId: "after-" + shop);

        await App.WaitForDeliveryAsync("after-" + shop, "skipped");
        Assert.Equal(0, await RecordingHandler.RunsAsync(App, "after-" + shop));
    }

    [Fact]
    public void An_answer_the_database_gave_before_an_uninstall_was_handled_is_not_remembered_after_it()
    {
        var clock = new FakeTimeProvider(DateTimeOffset.Parse("2026-12-02T12:00:00Z", System.Globalization.CultureInfo.InvariantCulture));
        var shops = new InstalledShops(clock, Microsoft.Extensions.Options.Options.Create(new WebhookOptions { InstalledShopCacheSeconds = 5 }));

        var askedAt = shops.Version; // a delivery asks the database: "installed"
        shops.Forget("a.myshopify.com"); // meanwhile the uninstall commits here
        shops.Remember("a.myshopify.com", askedAt);
        Assert.False(shops.IsKnownInstalled("a.myshopify.com"));

        shops.Remember("a.myshopify.com", shops.Version);
        Assert.True(shops.IsKnownInstalled("a.myshopify.com"));
        clock.Advance(TimeSpan.FromSeconds(5));
        Assert.False(shops.IsKnownInstalled("a.myshopify.com"));
    }
}
