using System.Diagnostics;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Loyalty.Tests.Infrastructure.Telemetry;

/// <summary>Section <c>Telemetry</c>: validated at start-up, and its switches decide what a collector receives.</summary>
public sealed class TelemetryOptionsTests
{
    [Fact]
    public async Task An_out_of_range_gauge_cache_stops_start_up_naming_the_setting()
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["Telemetry:GaugeCacheSeconds"] = "0" }));

        var message = error is OptionsValidationException o ? string.Join(" ", o.Failures) : error.ToString();
        Assert.Contains("Telemetry:GaugeCacheSeconds must be between 1 and 300", message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Traces_and_metrics_are_recorded_only_when_switched_on(bool on)
    {
        var metrics = new ExportedItems<MetricSnapshot>();
        // A source only this app's tracer provider listens to: whether a span is recorded is its sampler's answer alone
        // (the ASP.NET Core and HttpClient sources are process-wide, shared with the other tests' apps).
        using var probe = new ActivitySource("Loyalty.Tests.Probe." + Guid.NewGuid().ToString("N"));
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Telemetry:Traces"] = on.ToString(),
            ["Telemetry:Metrics"] = on.ToString(),
        }, services: s =>
        {
            s.ConfigureOpenTelemetryMeterProvider(m => m.AddInMemoryExporter(metrics));
            s.ConfigureOpenTelemetryTracerProvider(t => t.AddSource(probe.Name));
        });
        Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health")).StatusCode);

        using var span = probe.StartActivity("probe");
        app.Services.GetRequiredService<MeterProvider>().ForceFlush();

        Assert.Equal(on, span is { Recorded: true }); // off, a span may still carry the trace id along, but is never recorded
        var exported = metrics.Snapshot();
        Assert.Equal(on, exported.Any(m => m.Name == "loyalty.webhooks.backlog"));
        Assert.Equal(on, exported.Any(m => m.Name == "http.server.request.duration"));
    }
}
