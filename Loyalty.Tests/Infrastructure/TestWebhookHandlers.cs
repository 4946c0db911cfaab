using Dapper;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// Test topics that record their effect in <c>test_effects</c> (one row per webhook id, counting runs), so
/// tests can see exactly how often a delivery's effect was applied. A delivery fails while its payload's
/// <c>failTimes</c> attempts have not passed, or while its webhook id is listed in <c>test_failing</c>
/// (a bug the test "fixes" by deleting the row); <c>failWith</c> is the failure's message. <c>orders/updated</c> stands for a topic whose payload
/// carries customer data. Both tables exist in every test database (see <see cref="TestDatabase"/>).
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

        await context.Connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO test_effects (webhook_id, runs) VALUES (@WebhookId, 1)
            ON CONFLICT (webhook_id) DO UPDATE SET runs = test_effects.runs + 1;
            """, context.Delivery, context.Transaction, cancellationToken: ct));
    }

    public static Task<int> RunsAsync(LoyaltyApp app, string webhookId) =>
        app.ScalarAsync<int>("SELECT coalesce((SELECT runs FROM test_effects WHERE webhook_id = @webhookId), 0)", new { webhookId });

    public static void Register(IServiceCollection services)
    {
        services.AddSingleton<IWebhookHandler>(new RecordingHandler("test/effect"));
        services.AddSingleton<IWebhookHandler>(new RecordingHandler("test/flaky"));
        services.AddSingleton<IWebhookHandler>(new RecordingHandler("orders/updated"));
    }
}
