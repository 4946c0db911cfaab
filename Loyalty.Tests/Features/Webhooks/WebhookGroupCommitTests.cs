using System.Net;
using Loyalty.Tests.Infrastructure;

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
}
