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
    public Task While_the_database_stalls_deliveries_beyond_the_queue_capacity_are_refused_503_and_nothing_accepted_is_lost() =>
        StallAndSendSixAsync(new() { ["Webhooks:IntakeQueueCapacity"] = "2" }, """{"id":1}""");

    [Fact]
    public Task While_the_database_stalls_deliveries_beyond_the_queued_bytes_are_refused_503_and_nothing_accepted_is_lost() =>
        StallAndSendSixAsync(new() { ["Webhooks:IntakeQueueMaxBytes"] = "2500" }, Padded(1000)); // two of 1,000 bytes wait

    [Fact]
    public async Task One_insert_carries_no_more_payload_bytes_than_the_group_limit_and_a_larger_delivery_goes_alone()
    {
        await using var fixture = await AppFixture.StartAsync(new()
        {
            ["Webhooks:IntakeGroupWaitMs"] = "300",
            ["Webhooks:IntakeGroupMaxBytes"] = "2500",
            ["Webhooks:ProcessingEnabled"] = "false",
        },
            RecordingHandler.Register);
        var app = fixture.App;
        var shop = await fixture.NewShopAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => (Id: $"{shop}-{i}", Body: Padded(1000)))
            .Append((Id: $"{shop}-large", Body: Padded(3000)))
            .Select(async d =>
            {
                using var response = await app.PostWebhookAsync("test/effect", shop, d.Body, webhookId: d.Id);
                return response.StatusCode;
            }));

        Assert.All(answers, status => Assert.Equal(HttpStatusCode.OK, status));
        var groups = (await app.ScalarAsync<string>("""
            SELECT string_agg(rows::text, ',' ORDER BY rows) FROM (
                SELECT count(*) AS rows, sum(octet_length(payload)) AS bytes FROM webhook_deliveries WHERE shop_domain = @shop
                GROUP BY xmin::text) g
            WHERE bytes > 2500 AND rows > 1
            """, new { shop }));
        Assert.Null(groups); // no INSERT of more than one delivery passed 2,500 bytes
        Assert.Equal(11, await app.ScalarAsync<int>("SELECT count(*)::int FROM webhook_deliveries WHERE shop_domain = @shop", new { shop }));
        Assert.True(await app.ScalarAsync<int>("SELECT count(DISTINCT xmin::text)::int FROM webhook_deliveries WHERE shop_domain = @shop",
            new { shop }) >= 6, "ten deliveries of 1,000 bytes and one of 3,000 need at least six INSERTs");
    }

    /// <summary>A body of <paramref name="bytes"/> bytes the test handler accepts.</summary>
    private static string Padded(int bytes) => $$"""{"id":1,"pad":"{{new string('x', bytes - 17)}}"}""";

    /// <summary>
    /// One writer taking one delivery at a time is stalled by a lock; of six deliveries sent (the first alone, until the writer
    /// waits with it), one is with the writer, two wait in the queue, and the other three are refused at once with 503 for
    /// Shopify to send again. Once the database is back,
    /// the three accepted are stored, and so are the three Shopify resends.
    /// </summary>
    private static async Task StallAndSendSixAsync(Dictionary<string, string?> limit, string body)
    {
        await using var fixture = await AppFixture.StartAsync(new(limit)
        {
            ["Webhooks:IntakeWriters"] = "1",
            ["Webhooks:IntakeGroupMaxRows"] = "1",
            ["Webhooks:ProcessingEnabled"] = "false",
        },
            RecordingHandler.Register);
        var app = fixture.App;
        var shop = await fixture.NewShopAsync();

        // The database stalls every write of the inbox (a lock, as a long migration or a failover would).
        await using var stall = await app.Db.OpenConnectionAsync();
        await using var tx = await stall.BeginTransactionAsync();
        await using (var lockTable = new Npgsql.NpgsqlCommand("LOCK TABLE webhook_deliveries IN SHARE ROW EXCLUSIVE MODE", stall, tx))
        {
            await lockTable.ExecuteNonQueryAsync();
        }
        // The first goes to the writer, which then waits on the lock; only after that do the other five arrive together.
        var sent = new List<(string Id, Task<HttpStatusCode> Answer)> { ($"{shop}-stall-0", SendAsync($"{shop}-stall-0")) };
        await LoyaltyApp.WaitUntilAsync(async () => await app.ScalarAsync<int>("""
            SELECT count(*)::int FROM pg_stat_activity
            WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO webhook_deliveries%'
            """) == 1, "the writer waiting on the lock");
        sent.AddRange(Enumerable.Range(1, 5).Select(i => ($"{shop}-stall-{i}", SendAsync($"{shop}-stall-{i}"))));
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
        // Refused and stored alike, nothing is counted as being stored any more (the processor would keep leaving it the machine)
        var inbox = app.Services.GetRequiredService<Loyalty.ShopifyApp.Features.Webhooks.WebhookInbox>();
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(inbox.Storing == 0), "nothing left being stored");

        async Task<HttpStatusCode> SendAsync(string id)
        {
            using var response = await app.PostWebhookAsync("test/effect", shop, body, webhookId: id);
            return response.StatusCode;
        }
    }
}
