using System.Diagnostics;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Loyalty.Tests.Infrastructure.Telemetry;

/// <summary>What a collector receives (here an in-memory exporter in place of OTLP): the app's metrics and the request spans.</summary>
public sealed class TelemetryTests
{
    [Fact]
    public async Task A_processed_orders_paid_webhook_counts_an_award_and_leaves_an_http_server_span()
    {
        var metrics = new ExportedItems<MetricSnapshot>();
        var spans = new ExportedItems<Activity>();
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, services: s =>
        {
            s.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(metrics));
            s.ConfigureOpenTelemetryTracerProvider(t => t.AddInMemoryExporter(spans));
        });
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);

        await app.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(880001, 777, subtotal: 100m, total: 110m));

        Assert.True(await app.BalanceAsync(shop, 777) > 0);
        var provider = app.Services.GetRequiredService<MeterProvider>();
        await LoyaltyApp.WaitUntilAsync(() =>
        {
            provider.ForceFlush();
            return Task.FromResult(metrics.Snapshot().Where(m => m.Name == "loyalty.awards").SelectMany(m => m.MetricPoints).Any(
                p => p.GetSumLong() >= 1));
        }, "loyalty.awards counted the award");
        var exported = metrics.Snapshot();
        Assert.Contains(exported, m => m.Name == "loyalty.points.awarded" && m.Unit == "{point}");
        Assert.Contains(exported, m => m.Name == "loyalty.webhooks.backlog");
        Assert.Contains(exported, m => m.Name == "loyalty.conversions.needs_review");
        Assert.Contains(spans.Snapshot(), a => a.Kind == ActivityKind.Server && a.GetTagItem("url.path") as string == "/webhooks");
    }
}
