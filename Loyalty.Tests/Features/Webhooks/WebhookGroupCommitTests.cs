namespace Loyalty.Tests.Features.Webhooks;

/// <summary>Deliveries arriving together are stored together: one INSERT, one transaction, each answered once durable.</summary>
public sealed class WebhookGroupCommitTests
{
    [Fact]
    public async Task Concurrent_deliveries_share_transactions_and_redeliveries_among_them_are_stored_once()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Webhooks:IntakeGroupWaitMs"] = "300",
            ["Webhooks:ProcessingEnabled"] = "false", // processing would update the rows, and xmin names the last writer
        },
            services: RecordingHandler.Register);
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);
        var ids = Enumerable.Range(0, 30).Select(i => $"{shop}-{i}").ToList();

        // 30 deliveries and, at the same moment, a redelivery of each of the first ten.
        var answers = await Task.WhenAll(ids.Concat(ids.Take(10)).Select(async id =>
        {
            using var response = await app.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: id);
            return response.StatusCode;
        }));

        Assert.All(answers, status => Assert.Equal(HttpStatusCode.OK, status));
        Assert.Equal(30, await app.ScalarAsync<int>("SELECT count(*)::int FROM webhook_deliveries WHERE shop_domain = @shop", new { shop }));
        var transactions = await app.ScalarAsync<int>(
            "SELECT count(DISTINCT xmin::text)::int FROM webhook_deliveries WHERE shop_domain = @shop", new { shop });
        Assert.True(transactions <= 10, $"30 deliveries were stored in {transactions} transactions");
        Assert.Equal(string.Join(",", ids.Order(StringComparer.Ordinal)), await app.ScalarAsync<string>(
            "SELECT string_agg(webhook_id, ',' ORDER BY webhook_id COLLATE \"C\") FROM webhook_deliveries WHERE shop_domain = @shop AND status = " +
                "'pending'",
            new { shop }));
    }

    [Fact]
    public async Task While_the_database_stalls_deliveries_beyond_the_queue_capacity_are_refused_503_and_nothing_accepted_is_lost()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Webhooks:IntakeQueueCapacity"] = "2",
            ["Webhooks:IntakeWriters"] = "1",
            ["Webhooks:IntakeGroupMaxRows"] = "1",
            ["Webhooks:ProcessingEnabled"] = "false",
        },
            services: RecordingHandler.Register);
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);

        // The database stalls every write of the inbox (a lock, as a long migration or a failover would).
        await using var stall = await app.Db.OpenConnectionAsync();
        await using var tx = await stall.BeginTransactionAsync();
        await using (var lockTable = new Npgsql.NpgsqlCommand("LOCK TABLE webhook_deliveries IN SHARE ROW EXCLUSIVE MODE", stall, tx))
        {
            await lockTable.ExecuteNonQueryAsync();
        }
        var sent = Enumerable.Range(0, 6).Select(i => (Id: $"{shop}-stall-{i}", Answer: SendAsync($"{shop}-stall-{i}"))).ToList();
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(sent.Count(s => s.Answer.IsCompleted) >= 3), "three deliveries answered while stalled");
        await Task.Delay(300); // no more than that are answered while the database stalls

        // One is with the writer and two wait in the queue; the rest were refused at once, for Shopify to send again.
        var refused = sent.Where(s => s.Answer.IsCompleted).ToList();
        Assert.Equal(3, refused.Count);
        Assert.All(refused, s => Assert.Equal(HttpStatusCode.ServiceUnavailable, s.Answer.Result));

        await tx.RollbackAsync();
        Assert.All(await Task.WhenAll(sent.Except(refused).Select(s => s.Answer)), status => Assert.Equal(HttpStatusCode.OK, status));
        foreach (var (id, _) in refused) Assert.Equal(HttpStatusCode.OK, await SendAsync(id)); // Shopify's retry
        Assert.Equal(6, await app.ScalarAsync<int>("SELECT count(*)::int FROM webhook_deliveries WHERE shop_domain = @shop", new { shop }));

        async Task<HttpStatusCode> SendAsync(string id)
        {
            using var response = await app.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: id);
            return response.StatusCode;
        }
    }
}
