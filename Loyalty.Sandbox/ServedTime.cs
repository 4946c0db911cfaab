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
    private readonly ConcurrentDictionary<string, List<(long Start, long End)>> _calls = new();

    public TimeSpan Total => Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _ticks));

    /// <summary>
    /// Whether each call's interval is kept for <see cref="Covered"/> (a benchmark that asks for it turns it on; a sandbox that runs for
    /// days keeps only <see cref="Total"/>).
    /// </summary>
    public bool RecordCalls { get; set; }

    public void Add(long startedTimestamp, string? customerId) => Add(startedTimestamp, Stopwatch.GetTimestamp(), customerId);

    /// <summary>A call answered from <paramref name="startedTimestamp"/> to <paramref name="endedTimestamp"/> (Stopwatch timestamps).</summary>
    public void Add(long startedTimestamp, long endedTimestamp, string? customerId)
    {
        var ticks = endedTimestamp - startedTimestamp;
        Interlocked.Add(ref _ticks, ticks);
        if (customerId is null || !RecordCalls) return;
        var calls = _calls.GetOrAdd(customerId, _ => []);
        lock (calls) calls.Add((startedTimestamp, endedTimestamp));
    }

    /// <summary>
    /// How long, between <paramref name="sinceTimestamp"/> and <paramref name="untilTimestamp"/>, at least one call for
    /// <paramref name="customerId"/> that started in that window was being answered by any of <paramref name="simulators"/>: a customer's
    /// wait on them, where calls that overlap count once. A call is known once answered; one that ended after the window counts up to
    /// the window's end.
    /// </summary>
    public static TimeSpan Covered(string customerId, long sinceTimestamp, long untilTimestamp, params ServedTime[] simulators)
    {
        var calls = new List<(long Start, long End)>();
        foreach (var simulator in simulators)
        {
            if (!simulator._calls.TryGetValue(customerId, out var own)) continue;
            lock (own) calls.AddRange(own.Where(c => c.Start >= sinceTimestamp && c.Start < untilTimestamp));
        }
        long covered = 0, reached = long.MinValue;
        foreach (var (start, end) in calls.OrderBy(c => c.Start))
        {
            var from = Math.Max(start, reached);
            var to = Math.Min(end, untilTimestamp);
            if (to > from) covered += to - from;
            reached = Math.Max(reached, to);
        }
        return Stopwatch.GetElapsedTime(0, covered);
    }
}
