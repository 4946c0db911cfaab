using Loyalty.Sandbox;
using OpenTelemetry.Trace;

namespace Loyalty.Tests.Sandbox;

/// <summary>
/// The conversions bench's <c>--timeline</c>: the app exports its spans over OTLP (protobuf over HTTP) to <see cref="SpanTimeline"/>,
/// which reads them back into each conversion request's steps, the drive behind the answer included (a span of another trace, linked).
/// </summary>
public sealed class SpanTimelineTests
{
    [Fact]
    public async Task A_conversion_exported_by_the_app_comes_back_as_its_timeline_with_the_drives_steps()
    {
        await using var timeline = await SpanTimeline.StartAsync(default);
        using var shopify = new ShopifyFake();
        // OpenTelemetry's own OTLP exporter, as the bench's app gets it from OTEL_EXPORTER_OTLP_ENDPOINT and _PROTOCOL.
        await using var app = await LoyaltyApp.StartAsync(shopify, services: s => s.ConfigureOpenTelemetryTracerProvider(t =>
            t.AddOtlpExporter(o =>
            {
                o.Endpoint = new Uri(timeline.Endpoint + "/v1/traces");
                o.Protocol = OpenTelemetry.Exporter.OtlpExportProtocol.HttpProtobuf;
            })));
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);
        shopify.StubCouponsMetafield(shop);
        shopify.StubMetafieldsSet(shop);
        shopify.StubDiscountCreate(shop);
        shopify.StubFindCode(shop, null, priority: 10);
        var give = app.Admin(HttpMethod.Post, "/api/admin/customers/777/points", shop,
            JsonContent.Create(new { points = 1000, description = "welcome" }));
        give.Headers.Add("Idempotency-Key", "welcome");
        (await app.Http.SendAsync(give)).EnsureSuccessStatusCode();
        var since = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;

        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", shop, 777))
        {
            Content = new StringContent("""{"points":500}""", Encoding.UTF8, "application/json"),
        };
        convert.Headers.Add("Idempotency-Key", "timeline");
        Assert.Equal(HttpStatusCode.Created, (await app.ConversionSettledAsync(await app.Http.SendAsync(convert))).StatusCode);
        var report = new StringWriter();
        await LoyaltyApp.WaitUntilAsync(() =>
        {
            app.Services.GetRequiredService<TracerProvider>().ForceFlush();
            report = new StringWriter();
            timeline.Print(since, report);
            return Task.FromResult(report.ToString().Contains("INSERT INTO point_transactions", StringComparison.Ordinal));
        }, "the drive's ledger row in the request's timeline");

        var text = report.ToString();
        Assert.StartsWith("timeline of 1 conversion requests", text, StringComparison.Ordinal);
        Assert.Contains("SQL INSERT INTO conversions", text, StringComparison.Ordinal); // the request's own claim
        Assert.Contains($"HTTP POST {shopify.Server.Url}{ShopifyFake.GraphQLPath(shop)}", text, StringComparison.Ordinal); // the coupon
        Assert.Contains("(neither, to the answer)", text, StringComparison.Ordinal);
        Assert.Contains("the p99 request by database and neither", text, StringComparison.Ordinal); // the one request is its own tail
    }
}
