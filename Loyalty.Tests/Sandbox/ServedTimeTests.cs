using System.Diagnostics;
using Loyalty.Sandbox;

namespace Loyalty.Tests.Sandbox;

/// <summary>
/// The conversions bench subtracts from a conversion's latency how long the simulators were answering its calls: calls that overlap
/// (the list read while the points are deducted) count once, so overlapping them does not pass for the app's own time saved.
/// </summary>
public sealed class ServedTimeTests
{
    private static readonly long Ms = Stopwatch.Frequency / 1000;

    [Fact]
    public void Calls_one_after_another_add_up()
    {
        var (pos, shopify) = (new ServedTime(), new ServedTime());
        pos.Add(0, 40 * Ms, "7");
        shopify.Add(50 * Ms, 170 * Ms, "7");
        pos.Add(180 * Ms, 220 * Ms, "7");

        Assert.Equal(200, ServedTime.Covered("7", 0, pos, shopify).TotalMilliseconds, 3);
        Assert.Equal(200, (pos.Total + shopify.Total).TotalMilliseconds, 3);
    }

    [Fact]
    public void Overlapping_calls_count_once_across_simulators()
    {
        var (pos, shopify) = (new ServedTime(), new ServedTime());
        shopify.Add(0, 120 * Ms, "7"); // the coupon
        shopify.Add(130 * Ms, 250 * Ms, "7"); // the list, read while …
        pos.Add(131 * Ms, 171 * Ms, "7"); // … the points are deducted
        shopify.Add(260 * Ms, 380 * Ms, "7"); // the list written

        Assert.Equal(360, ServedTime.Covered("7", 0, pos, shopify).TotalMilliseconds, 3);
    }

    [Fact]
    public void Only_the_customers_calls_since_the_given_moment_count()
    {
        var (pos, shopify) = (new ServedTime(), new ServedTime());
        pos.Add(0, 40 * Ms, "7"); // an earlier conversion of the same customer
        pos.Add(100 * Ms, 140 * Ms, "7");
        pos.Add(100 * Ms, 200 * Ms, "8"); // another customer
        shopify.Add(150 * Ms, 160 * Ms, null); // nobody's

        Assert.Equal(40, ServedTime.Covered("7", 100 * Ms, pos, shopify).TotalMilliseconds, 3);
        Assert.Equal(TimeSpan.Zero, ServedTime.Covered("9", 0, pos, shopify));
    }
}
