using System.Collections.Concurrent;
using System.Diagnostics;

namespace Loyalty.Sandbox;

/// <summary>
/// The time a simulator spent answering requests (from arrival to the end of the answer), in all and per customer, for
/// benchmarks: what a customer's conversion spent in the simulated POS and Shopify is its own calls' time, measured where the
/// app cannot shorten it.
/// </summary>
public sealed class ServedTime
{
    /// <summary>The <c>HttpContext.Items</c> key a handler sets to the customer id its request was for.</summary>
    public const string CustomerItem = "served-for-customer";

    private long _ticks;
    private readonly ConcurrentDictionary<string, long> _byCustomer = new();

    public TimeSpan Total => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks));

    /// <summary>The time spent on requests for <paramref name="customerId"/> that have finished answering.</summary>
    public TimeSpan For(string customerId) =>
        Stopwatch.GetElapsedTime(0, _byCustomer.TryGetValue(customerId, out var ticks) ? ticks : 0);

    public void Add(long startedTimestamp, string? customerId)
    {
        var ticks = Stopwatch.GetTimestamp() - startedTimestamp;
        Interlocked.Add(ref _ticks, ticks);
        if (customerId is not null) _byCustomer.AddOrUpdate(customerId, ticks, (_, sum) => sum + ticks);
    }
}
