using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Features.Webhooks;

/// <summary>
/// Processing after the acknowledgement: retried until it succeeds, parked with a reason, never lost. Tests on the
/// default settings share an app; those with fewer attempts, or two instances on one database, start their own.
/// </summary>
public sealed class WebhookProcessingTests(RecordingApp recording) : IClassFixture<RecordingApp>
{
    private static Task<int> RunsAsync(LoyaltyApp app, string webhookId) => RecordingHandler.RunsAsync(app, webhookId);

    [Fact]
    public async Task A_handler_that_fails_twice_is_retried_until_it_succeeds_and_applies_once()
    {
        var app = recording.App;
        var shop = await recording.NewShopAsync();

        await app.PostWebhookAsync("test/flaky", shop, """{"failTimes":2}""", webhookId: "flaky-" + shop);

        await app.WaitForDeliveryAsync("flaky-" + shop, "processed");
        Assert.Equal(3, await app.ScalarAsync<int>("SELECT attempts FROM webhook_deliveries WHERE webhook_id = @id", new { id = "flaky-" + shop }));
        Assert.Equal(1, await RunsAsync(app, "flaky-" + shop));
    }

    [Fact]
    public async Task A_failure_whose_message_the_database_cannot_store_is_still_recorded_and_other_lanes_go_on()
    {
        await using var fixture = await AppFixture.StartAsync(new() { ["Webhooks:MaxAttempts"] = "1" }, RecordingHandler.Register);
        var app = fixture.App;
        var shop = await fixture.NewShopAsync();

        // A handler's error message with a NUL byte (from a payload, say), which a PostgreSQL text column refuses.
        await app.PostWebhookAsync("test/flaky", shop, """{"failTimes":9,"failWith":"bad\u0000byte"}""", webhookId: "nul-" + shop);
        await app.PostWebhookAsync("test/effect", shop, """{"id":2}""", webhookId: "fine-" + shop);

        await app.WaitForDeliveryAsync("nul-" + shop, "failed"); // not left "processing" until its lease ends, again and again
        await app.WaitForDeliveryAsync("fine-" + shop, "processed");
        Assert.Equal("InvalidOperationException: bad\uFFFDbyte", await app.ScalarAsync<string>(
            "SELECT last_error FROM webhook_deliveries WHERE webhook_id = @id", new { id = "nul-" + shop }));
    }

    [Fact]
    public async Task A_batch_slower_than_its_lease_keeps_it_so_no_other_worker_runs_a_later_delivery_of_its_lane_first()
    {
        await using var fixture = await AppFixture.StartAsync(
            new() { ["Webhooks:LeaseSeconds"] = "2", ["Webhooks:ProcessingEnabled"] = "false" }, RecordingHandler.Register);
        var app = fixture.App;
        var shop = await fixture.NewShopAsync();
        // One customer's two deliveries, so one lane: the first takes 5 s (two and a half leases), the second waits behind it.
        await app.PostWebhookAsync("test/effect", shop, """{"customer":{"id":7},"sleepMs":5000}""", webhookId: "slow-" + shop);
        await app.PostWebhookAsync("test/effect", shop, """{"customer":{"id":7}}""", webhookId: "next-" + shop);
        var processor = app.Services.GetRequiredService<WebhookProcessor>();

        var batch = processor.ProcessDueAsync(CancellationToken.None);
        await Task.Delay(3500); // the claim's first lease has run out
        Assert.Equal(0, await processor.ProcessDueAsync(CancellationToken.None)); // another worker takes nothing over
        Assert.Equal(2, await batch);

        foreach (var id in new[] { "slow-" + shop, "next-" + shop })
        {
            Assert.Equal("processed, attempt 1", await app.ScalarAsync<string>(
                "SELECT status || ', attempt ' || attempts FROM webhook_deliveries WHERE webhook_id = @id", new { id }));
            Assert.Equal(1, await RunsAsync(app, id));
        }
    }

    [Fact]
    public async Task A_delivery_that_keeps_failing_is_parked_visible_to_the_merchant_and_can_be_retried()
    {
        await using var fixture = await AppFixture.StartAsync(new() { ["Webhooks:MaxAttempts"] = "2" }, RecordingHandler.Register);
        var app = fixture.App;
        var shop = await fixture.NewShopAsync();
        var id = "poison-" + shop;
        await app.ScalarAsync<int>("INSERT INTO test_failing (webhook_id) VALUES (@id)", new { id });

        await app.PostWebhookAsync("test/flaky", shop, """{"id":1}""", webhookId: id);
        await app.WaitForDeliveryAsync(id, "failed");

        var list = await app.Http.SendAsync(app.Admin(HttpMethod.Get, "/api/admin/webhooks?status=failed", shop));
        var page = await list.Content.ReadFromJsonAsync<JsonElement>();
        var item = Assert.Single(page.GetProperty("items").EnumerateArray());
        Assert.Equal(id, item.GetProperty("webhookId").GetString());
        Assert.Contains("listed in test_failing", item.GetProperty("lastError").GetString());
        Assert.Equal(2, item.GetProperty("attempts").GetInt32());
        Assert.Equal(0, await RunsAsync(app, id));

        // The cause is fixed; the merchant (or support) retries the parked delivery.
        await app.ScalarAsync<int>("DELETE FROM test_failing WHERE webhook_id = @id", new { id });
        var retry = await app.Http.SendAsync(app.Admin(HttpMethod.Post, $"/api/admin/webhooks/{item.GetProperty("id").GetInt64()}/retry", shop));
        Assert.Equal(HttpStatusCode.NoContent, retry.StatusCode);
        await app.WaitForDeliveryAsync(id, "processed");
        Assert.Equal(1, await RunsAsync(app, id));
    }

    [Fact]
    public async Task Another_shop_cannot_see_or_retry_a_shops_deliveries()
    {
        await using var fixture = await AppFixture.StartAsync(new() { ["Webhooks:MaxAttempts"] = "1" }, RecordingHandler.Register);
        var app = fixture.App;
        var shop = await fixture.NewShopAsync();
        var other = await fixture.NewShopAsync();
        await app.PostWebhookAsync("test/flaky", shop, """{"failTimes":5}""", webhookId: "mine-" + shop);
        await app.WaitForDeliveryAsync("mine-" + shop, "failed");
        var deliveryId = await app.ScalarAsync<long>("SELECT id FROM webhook_deliveries WHERE webhook_id = @id", new { id = "mine-" + shop });

        var list = await (await app.Http.SendAsync(app.Admin(HttpMethod.Get, "/api/admin/webhooks", other))).Content.ReadFromJsonAsync<JsonElement>();
        var retry = await app.Http.SendAsync(app.Admin(HttpMethod.Post, $"/api/admin/webhooks/{deliveryId}/retry", other));

        Assert.Empty(list.GetProperty("items").EnumerateArray());
        Assert.Equal(HttpStatusCode.NotFound, retry.StatusCode);
    }

    [Fact]
    public async Task A_delivery_acknowledged_by_an_instance_that_died_is_processed_by_the_next_one()
    {
        var db = await TestDatabase.CreateAsync();
        string shop, id;

        await using (var dying = await AppFixture.StartAsync(new() { ["Webhooks:ProcessingEnabled"] = "false" }, RecordingHandler.Register, db))
        {
            shop = await dying.NewShopAsync();
            id = "orphan-" + shop;
            Assert.Equal(HttpStatusCode.OK, (await dying.App.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: id)).StatusCode);
            Assert.Equal("pending", await dying.App.ScalarAsync<string>("SELECT status FROM webhook_deliveries WHERE webhook_id = @id", new { id }));
        }

        await using var next = await AppFixture.StartAsync(null, RecordingHandler.Register, db);
        await next.App.WaitForDeliveryAsync(id, "processed");
        Assert.Equal(1, await RunsAsync(next.App, id));
    }

    [Fact]
    public async Task A_delivery_whose_worker_lease_expired_is_taken_over()
    {
        var app = recording.App;
        var shop = await recording.NewShopAsync();
        var id = "stuck-" + shop;
        // As left behind by a worker killed mid-delivery: claimed, lease already run out.
        await app.ScalarAsync<int>("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, payload, status, attempts, locked_until)
            VALUES (@id, @shop, 'test/effect', '{"id":1}', 'processing', 1, now() - interval '1 second')
            """, new { id, shop });

        await app.WaitForDeliveryAsync(id, "processed");
        Assert.Equal(1, await RunsAsync(app, id));
        Assert.Equal(2, await app.ScalarAsync<int>("SELECT attempts FROM webhook_deliveries WHERE webhook_id = @id", new { id }));
    }
}
