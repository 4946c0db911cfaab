using System.Diagnostics;
using Loyalty.Sandbox;

namespace Loyalty.Tests.Sandbox;

/// <summary>
/// The conversions bench subtracts from a conversion's latency how long the simulators were answering its calls: calls that overlap
/// (the list read while the points are deducted) count once, so overlapping them does not pass for the app's own time saved, and only
/// the conversion's own window counts.
/// </summary>
public sealed class ServedTimeTests
{
    private static readonly long Ms = Stopwatch.Frequency / 1000;

    private static (ServedTime Pos, ServedTime Shopify) Simulators() =>
        (new ServedTime { RecordCalls = true }, new ServedTime { RecordCalls = true });

    private static double Covered(string customer, long since, long until, params ServedTime[] simulators) =>
        ServedTime.Covered(customer, since * Ms, until * Ms, simulators).TotalMilliseconds;

    [Fact]
    public void Calls_one_after_another_add_up()
    {
        var (pos, shopify) = Simulators();
        pos.Add(0, 40 * Ms, "7");
        shopify.Add(50 * Ms, 170 * Ms, "7");
        pos.Add(180 * Ms, 220 * Ms, "7");

        Assert.Equal(200, Covered("7", 0, 1000, pos, shopify), 3);
        Assert.Equal(200, (pos.Total + shopify.Total).TotalMilliseconds, 3);
    }

    [Fact]
    public void Overlapping_calls_count_once_across_simulators_in_whatever_order_they_were_recorded()
    {
        var (pos, shopify) = Simulators();
        shopify.Add(260 * Ms, 380 * Ms, "7"); // the list written
        pos.Add(131 * Ms, 171 * Ms, "7"); // the points deducted while …
        shopify.Add(130 * Ms, 250 * Ms, "7"); // … the list is read
        shopify.Add(0, 120 * Ms, "7"); // the coupon
        pos.Add(240 * Ms, 265 * Ms, "7"); // overlapping the end of one call and the start of the next

        Assert.Equal(370, Covered("7", 0, 1000, pos, shopify), 3);
    }

    [Fact]
    public void Only_the_customers_calls_started_in_the_window_count_and_only_up_to_its_end()
    {
        var (pos, shopify) = Simulators();
        pos.Add(0, 40 * Ms, "7"); // an earlier conversion of the same customer
        pos.Add(90 * Ms, 120 * Ms, "7"); // started before the window: not this conversion's
        pos.Add(100 * Ms, 140 * Ms, "7");
        shopify.Add(180 * Ms, 260 * Ms, "7"); // still answering when the conversion was answered at 200
        pos.Add(210 * Ms, 220 * Ms, "7"); // started after it
        pos.Add(100 * Ms, 200 * Ms, "8"); // another customer
        shopify.Add(150 * Ms, 160 * Ms, null); // nobody's

        Assert.Equal(60, Covered("7", 100, 200, pos, shopify), 3);
        Assert.Equal(0, Covered("9", 0, 1000, pos, shopify));
    }

    [Fact]
    public void Intervals_are_kept_only_when_asked_for()
    {
        var quiet = new ServedTime();
        quiet.Add(0, 40 * Ms, "7");

        Assert.Equal(40, quiet.Total.TotalMilliseconds, 3);
        Assert.Equal(0, Covered("7", 0, 1000, quiet));
    }
}
