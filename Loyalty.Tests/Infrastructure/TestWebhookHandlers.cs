using Dapper;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// Test topics that record their effect in <c>test_effects</c> (one row per webhook id, counting runs), so
/// tests can see exactly how often a delivery's effect was applied. A delivery fails while its payload's
/// <c>failTimes</c> attempts have not passed, or while its webhook id is listed in <c>test_failing</c>
/// (a bug the test "fixes" by deleting the row); <c>failWith</c> is the failure's message. <c>failAfterEffect</c> fails after
/// writing its effect, <c>deadlockOnce</c> is a deadlock's victim the first time, <c>sleepMs</c> takes that long.
/// <c>orders/updated</c> stands for a topic whose payload carries customer data. <c>tx</c> is the (top-level) transaction
/// of the last run. Both tables exist in every test database (see <see cref="TestDatabase"/>).
/// </summary>
public sealed class RecordingHandler(string topic, bool runsForUninstalledShops = false) : IWebhookHandler
{
    public string Topic => topic;

    public bool RunsForUninstalledShops => runsForUninstalledShops;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        using var doc = JsonDocument.Parse(context.Delivery.Payload!);
        if (doc.RootElement.TryGetProperty("failTimes", out var f) && context.Delivery.Attempts <= f.GetInt32())
        {
            throw new InvalidOperationException(doc.RootElement.TryGetProperty("failWith", out var with) ? with.GetString()
                : $"induced failure on attempt {context.Delivery.Attempts}");
        }
        if (doc.RootElement.TryGetProperty("sleepMs", out var sleep)) await Task.Delay(sleep.GetInt32(), ct); // a slow handler
        if (await context.Connection.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM test_failing WHERE webhook_id = @WebhookId)", context.Delivery, context.Transaction,
                cancellationToken: ct)))
        {
            throw new InvalidOperationException("induced failure: the delivery is listed in test_failing");
        }

        if (doc.RootElement.TryGetProperty("deadlockOnce", out _) && DeadlockedOnce.TryAdd(context.Delivery.WebhookId, true))
        {
            // What PostgreSQL answers a transaction it chose as a deadlock's victim.
            await context.Connection.ExecuteAsync(new CommandDefinition(
                "DO $$ BEGIN RAISE EXCEPTION 'induced deadlock' USING ERRCODE = 'deadlock_detected'; END $$", transaction: context.Transaction,
                cancellationToken: ct));
        }

        await context.Connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO test_effects (webhook_id, runs, tx) VALUES (@WebhookId, 1, txid_current())
            ON CONFLICT (webhook_id) DO UPDATE SET runs = test_effects.runs + 1, tx = excluded.tx;
            """, context.Delivery, context.Transaction, cancellationToken: ct));
        if (doc.RootElement.TryGetProperty("failAfterEffect", out _))
        {
            throw new InvalidOperationException("induced failure after its effect was written");
        }
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> DeadlockedOnce = new();

    public static Task<int> RunsAsync(LoyaltyApp app, string webhookId) =>
        app.ScalarAsync<int>("SELECT coalesce((SELECT runs FROM test_effects WHERE webhook_id = @webhookId), 0)", new { webhookId });

    public static void Register(IServiceCollection services)
    {
        services.AddSingleton<IWebhookHandler>(new RecordingHandler("test/effect"));
        services.AddSingleton<IWebhookHandler>(new RecordingHandler("test/flaky"));
        services.AddSingleton<IWebhookHandler>(new RecordingHandler("test/compliance", runsForUninstalledShops: true));
        services.AddSingleton<IWebhookHandler>(new RecordingHandler("orders/updated"));
    }
}
