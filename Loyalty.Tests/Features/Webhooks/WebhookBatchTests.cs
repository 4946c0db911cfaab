using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Features.Webhooks;

/// <summary>
/// A claimed batch is handled in shared transactions, each delivery in a savepoint of its own: many deliveries per commit,
/// and still one delivery's failure undoes only its own effects. The processor is driven by the test (processing off).
/// </summary>
public sealed class WebhookBatchTests(WebhookBatchTests.BatchApp batch) : AppTests<WebhookBatchTests.BatchApp>(batch)
{
    public sealed class BatchApp() : AppFixture(new()
    {
        ["Webhooks:ProcessingEnabled"] = "false", ["Webhooks:Parallelism"] = "2", ["Webhooks:TransactionSize"] = "25",
        ["Webhooks:MaxAttempts"] = "1", // a failure is parked, so no later test's batch picks it up again
    }, RecordingHandler.Register);

    private Task<int> ProcessAsync() => App.Services.GetRequiredService<WebhookProcessor>().ProcessDueAsync(CancellationToken.None);

    private async Task<List<string>> PostAsync(params string[] bodies)
    {
        var ids = new List<string>();
        for (var i = 0; i < bodies.Length; i++)
        {
            var id = $"{Shop}-{i}";
            using var response = await App.PostWebhookAsync("test/effect", Shop, bodies[i], webhookId: id);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            ids.Add(id);
        }
        return ids;
    }

    private async Task<List<int>> RunsAsync(List<string> ids)
    {
        var runs = new List<int>();
        foreach (var id in ids) runs.Add(await RecordingHandler.RunsAsync(App, id));
        return runs;
    }

    private Task<int> TransactionsAsync(IEnumerable<string> ids) => App.ScalarAsync<int>(
        "SELECT count(DISTINCT tx)::int FROM test_effects WHERE webhook_id = ANY(@ids)", new { ids = ids.ToArray() });

    [Fact]
    public async Task Thirty_deliveries_of_thirty_customers_commit_in_a_few_transactions_each_applied_once()
    {
        var ids = await PostAsync([.. Enumerable.Range(1, 30).Select(c => $"{{\"customer\":{{\"id\":{c}}}}}")]);

        await ProcessAsync();

        foreach (var id in ids) Assert.Equal(1, await RecordingHandler.RunsAsync(App, id));
        Assert.InRange(await TransactionsAsync(ids), 1, 4); // two workers, up to 25 per transaction: not thirty commits
    }

    [Fact]
    public async Task A_delivery_that_fails_after_writing_has_its_effect_undone_while_the_rest_of_its_transaction_commits()
    {
        var ids = await PostAsync("""{"customer":{"id":1}}""", """{"customer":{"id":1},"failAfterEffect":true}""", """{"customer":{"id":1}}""");

        await ProcessAsync();

        Assert.Equal([1, 0, 1], await RunsAsync(ids));
        Assert.Equal(1, await TransactionsAsync([ids[0], ids[2]])); // one customer's lane: one transaction
        Assert.Equal("failed InvalidOperationException: induced failure after its effect was written", await App.ScalarAsync<string>(
            "SELECT status || ' ' || last_error FROM webhook_deliveries WHERE webhook_id = @id", new { id = ids[1] }));
    }

    [Fact]
    public async Task A_deadlock_victim_and_the_rest_of_its_lane_are_handled_again_on_their_own_in_order_not_counted_as_failures()
    {
        var ids = await PostAsync("""{"customer":{"id":1}}""", """{"customer":{"id":1},"deadlockOnce":true}""", """{"customer":{"id":1}}""");

        await ProcessAsync();

        Assert.Equal([1, 1, 1], await RunsAsync(ids));
        Assert.Equal("processed 1", await App.ScalarAsync<string>(
            "SELECT status || ' ' || attempts FROM webhook_deliveries WHERE webhook_id = @id", new { id = ids[1] }));
        // The one behind the victim in its lane waited for it: three transactions, in arrival order.
        var tx = await TxAsync(ids);
        Assert.True(tx[0] < tx[1] && tx[1] < tx[2], string.Join(" < ", tx));
    }

    [Fact]
    public async Task Uninstall_and_compliance_deliveries_get_a_transaction_of_their_own()
    {
        // A compliance delivery names no customer, so its shop's deliveries form one lane: before, it, after.
        var before = await PostAsync("""{"customer":{"id":1}}""");
        using (var response = await App.PostWebhookAsync("test/compliance", Shop, """{"id":2}""", webhookId: $"{Shop}-compliance"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using (var response = await App.PostWebhookAsync("test/effect", Shop, """{"customer":{"id":2}}""", webhookId: $"{Shop}-after"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await ProcessAsync();

        var tx = await TxAsync([before[0], $"{Shop}-compliance", $"{Shop}-after"]);
        Assert.True(tx[0] < tx[1] && tx[1] < tx[2], string.Join(" < ", tx));
    }

    private async Task<List<long>> TxAsync(List<string> ids)
    {
        var tx = new List<long>();
        foreach (var id in ids) tx.Add(await App.ScalarAsync<long>("SELECT tx FROM test_effects WHERE webhook_id = @id", new { id }));
        return tx;
    }
}
