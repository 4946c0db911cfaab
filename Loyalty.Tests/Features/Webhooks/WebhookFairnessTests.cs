using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Features.Webhooks;

/// <summary>
/// Shops take turns in the processor's claims: a shop in a flash sale cannot hold back another shop's deliveries, a shop alone
/// still fills whole batches, and each shop's deliveries are still taken oldest first. The processor is driven by the test
/// (processing off), ten deliveries a claim.
/// </summary>
public sealed class WebhookFairnessTests(WebhookFairnessTests.FairnessApp fairness) : AppTests<WebhookFairnessTests.FairnessApp>(fairness)
{
    public sealed class FairnessApp() : AppFixture(new()
    {
        ["Webhooks:ProcessingEnabled"] = "false", ["Webhooks:BatchSize"] = "10", ["Webhooks:MaxAttempts"] = "1",
    }, RecordingHandler.Register);

    [Fact]
    public async Task The_inbox_keeps_only_the_indexes_its_queries_read_since_each_delivery_writes_every_index_three_times()
    {
        // Intake, claim and processed mark each write a row version into every index (the status change rules out HOT updates).
        var indexes = (await App.ScalarAsync<string[]>(
            "SELECT array_agg(indexname::text ORDER BY indexname) FROM pg_indexes WHERE tablename = 'webhook_deliveries'"))!;

        Assert.Equal(["webhook_deliveries_customer", "webhook_deliveries_order", "webhook_deliveries_pkey", "webhook_deliveries_ready_by_shop",
            "webhook_deliveries_shop_status", "webhook_deliveries_webhook_id_key"], indexes);
    }

    private Task<int> ProcessAsync() => App.Services.GetRequiredService<WebhookProcessor>().ProcessDueAsync(CancellationToken.None);

    private async Task<List<string>> PostAsync(string shop, int count)
    {
        var ids = new List<string>();
        for (var i = 0; i < count; i++)
        {
            var id = $"{shop}-{i}";
            using var response = await App.PostWebhookAsync("test/effect", shop, $"{{\"customer\":{{\"id\":{i}}}}}", webhookId: id);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            ids.Add(id);
        }
        return ids;
    }

    private async Task<List<bool>> HandledAsync(IEnumerable<string> ids)
    {
        var handled = new List<bool>();
        foreach (var id in ids) handled.Add(await RecordingHandler.RunsAsync(App, id) == 1);
        return handled;
    }

    private async Task DrainAsync()
    {
        while (await ProcessAsync() > 0) { }
    }

    [Fact]
    public async Task A_quiet_shops_delivery_is_handled_in_the_first_claim_though_another_shop_sent_forty_before_it()
    {
        await DrainAsync();
        var flood = await PostAsync(Shop, 40);
        var quietShop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, quietShop);
        var quiet = await PostAsync(quietShop, 1);

        Assert.Equal(10, await ProcessAsync());

        Assert.Equal([true], await HandledAsync(quiet));
        // The flooding shop got the rest of the claim, its oldest nine, in order.
        Assert.Equal([.. Enumerable.Repeat(true, 9), .. Enumerable.Repeat(false, 31)], await HandledAsync(flood));
    }

    [Fact]
    public async Task Two_busy_shops_share_each_claim_and_a_shop_alone_fills_it()
    {
        await DrainAsync();
        var first = await PostAsync(Shop, 12);
        var otherShop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, otherShop);
        var second = await PostAsync(otherShop, 12);

        Assert.Equal(10, await ProcessAsync());
        Assert.Equal((5, 5), ((await HandledAsync(first)).Count(h => h), (await HandledAsync(second)).Count(h => h)));

        Assert.Equal(10, await ProcessAsync());
        Assert.Equal((10, 10), ((await HandledAsync(first)).Count(h => h), (await HandledAsync(second)).Count(h => h)));

        Assert.Equal(4, await ProcessAsync()); // what is left, both shops'
        var aloneShop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, aloneShop);
        var alone = await PostAsync(aloneShop, 15);
        Assert.Equal(10, await ProcessAsync());
        Assert.Equal([.. Enumerable.Repeat(true, 10), .. Enumerable.Repeat(false, 5)], await HandledAsync(alone));
    }

    [Fact]
    public async Task A_claim_made_while_another_instance_holds_the_oldest_deliveries_still_fills_its_batch()
    {
        await DrainAsync();
        var ids = await PostAsync(Shop, 20);
        // Another instance is claiming the ten oldest at this moment: their rows are locked, not yet marked.
        await using var other = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await other.OpenAsync();
        await using var claiming = await other.BeginTransactionAsync();
        await Dapper.SqlMapper.ExecuteAsync(other, "SELECT 1 FROM webhook_deliveries WHERE webhook_id = ANY(@oldest) FOR UPDATE",
            new { oldest = ids.Take(10).ToArray() }, claiming);

        Assert.Equal(10, await ProcessAsync());

        Assert.Equal([.. Enumerable.Repeat(false, 10), .. Enumerable.Repeat(true, 10)], await HandledAsync(ids));
    }
}
