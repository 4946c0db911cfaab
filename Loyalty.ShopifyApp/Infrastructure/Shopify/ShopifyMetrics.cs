using System.Diagnostics.Metrics;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// The Admin API's rate limit as an operator watches it, on the app's <c>Meter("Loyalty")</c>: how full the emptiest
/// cost bucket is (from <c>extensions.cost.throttleStatus</c>, through <see cref="ShopifyCostBucket"/>), and how often
/// Shopify refused a call for it. No shop tag: one instance serves any number of shops, and a series per shop would
/// grow with them; the logs name the shop.
/// </summary>
public sealed class ShopifyMetrics
{
    public const string GraphQLThrottled = "throttled";
    public const string Http429 = "http_429";

    private readonly Counter<long> _throttled;

    public ShopifyMetrics(IMeterFactory meters, ShopifyCostBucket bucket)
    {
        var meter = meters.Create(LoyaltyMetrics.MeterName);
        _throttled = meter.CreateCounter<long>("loyalty.shopify.throttled", "{answer}",
            "Admin API answers that refused a call for the shop's rate limit: GraphQL THROTTLED (answer=throttled) or HTTP 429 (answer=http_429)");
        meter.CreateObservableGauge("loyalty.shopify.cost_bucket.lowest_fill", () => Fill(bucket), "1",
            "How full the emptiest Shopify GraphQL cost bucket of the shops this instance called is (0 empty, 1 full), from their last " +
                "throttleStatus and restore rate");
    }

    /// <summary>Shopify answered THROTTLED or 429 (<paramref name="answer"/>: <see cref="GraphQLThrottled"/> or <see cref="Http429"/>).</summary>
    public void Throttled(string answer) => _throttled.Add(1, new KeyValuePair<string, object?>("answer", answer));

    private static IEnumerable<Measurement<double>> Fill(ShopifyCostBucket bucket) =>
        bucket.LowestFill() is { } fill ? [new Measurement<double>(fill)] : [];
}
