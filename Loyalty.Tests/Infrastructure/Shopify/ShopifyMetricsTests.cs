using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Loyalty.Tests.Infrastructure.Telemetry;
using WireMock.Matchers;

namespace Loyalty.Tests.Infrastructure.Shopify;

/// <summary>Shopify's rate limit as an operator's dashboard shows it: the emptiest cost bucket, and the answers that refused a call.</summary>
public sealed class ShopifyMetricsTests
{
    private const string Probe = "query TelemetryProbe { shop { name } }";

    [Fact]
    public async Task The_bucket_level_follows_Shopifys_throttle_status_and_THROTTLED_and_429_answers_are_counted()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop); // its shop query answers a bucket of 1999 / 2000
        using var metrics = new AppMeasurements(app.Services);
        Assert.InRange(Assert.Single(metrics.Observe("loyalty.shopify.cost_bucket.lowest_fill")).Value, 0.999, 1.0);

        // THROTTLED, then 429, then an answer saying the bucket holds 500 of 2000 points and refills 1 a second.
        var probe = Request.Create().WithPath(ShopifyFake.GraphQLPath(shop)).UsingPost().WithBody(new WildcardMatcher("*TelemetryProbe*"));
        shopify.Server.Given(probe).AtPriority(1).InScenario("probe").WillSetStateTo("429").RespondWith(
            Response.Create().WithStatusCode(200).WithBodyAsJson(new
        {
            errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
            extensions = new { cost = new { requestedQueryCost = 1, throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 1500,
                restoreRate = 100.0 } } },
        }));
        shopify.Server.Given(probe).AtPriority(1).InScenario("probe").WhenStateIs("429").WillSetStateTo("ok")
            .RespondWith(Response.Create().WithStatusCode(429).WithHeader("Retry-After", "0"));
        shopify.Server.Given(probe).AtPriority(1).InScenario("probe").WhenStateIs("ok").RespondWith(
            Response.Create().WithStatusCode(200).WithBodyAsJson(new
        {
            data = new { shop = new { name = "Cool Shop" } },
            extensions = new { cost = new { requestedQueryCost = 1, actualQueryCost = 1,
                throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 500, restoreRate = 1.0 } } },
        }));

        var data = await app.Services.GetRequiredService<ShopifyGraphQLClient>().QueryAsync(shop, Probe, null, default);

        Assert.Equal("Cool Shop", data.GetProperty("shop").GetProperty("name").GetString());
        Assert.Equal(3, shopify.OperationBodies(shop, "TelemetryProbe").Count);
        Assert.Equal(1, metrics.Sum("loyalty.shopify.throttled", ("answer", ShopifyMetrics.GraphQLThrottled)));
        Assert.Equal(1, metrics.Sum("loyalty.shopify.throttled", ("answer", ShopifyMetrics.Http429)));
        Assert.InRange(Assert.Single(metrics.Observe("loyalty.shopify.cost_bucket.lowest_fill")).Value, 0.25, 0.26);
    }
}
