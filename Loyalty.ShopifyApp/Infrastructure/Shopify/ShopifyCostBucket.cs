using System.Collections.Concurrent;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// Shopify's GraphQL cost bucket (per app and shop), as this instance last saw it: admission control in front of
/// every Admin API call, so the app waits before it sends rather than after Shopify answers THROTTLED. Each
/// response's <c>throttleStatus</c> resets the estimate (it also counts what other instances of the app spent);
/// between responses it refills at the restore rate. A call reserves its expected cost up front, so callers
/// queue in order; one that would wait longer than the caller allows reserves nothing and is told when to
/// come back (<see cref="ShopifyThrottledException"/>), so it can hand the work to a background job instead of
/// holding a customer's request. Until a shop has answered once, nothing waits.
/// </summary>
public sealed class ShopifyCostBucket(TimeProvider clock)
{
    private sealed class Bucket
    {
        public double Maximum;
        public double RestoreRate;
        public double Available; // may go below zero: cost reserved by calls waiting their turn
        public long At;
        public double Waiting;   // cost reserved by calls that have not been sent yet
    }

    private readonly ConcurrentDictionary<string, Bucket> _buckets = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, double> _costs = new(StringComparer.Ordinal);

    /// <summary>What a document cost last time (Shopify's <c>requestedQueryCost</c>); a mutation's default, 10, before that.</summary>
    public double ExpectedCost(string document) => _costs.TryGetValue(document, out var cost) ? cost : 10;

    /// <summary>
    /// Reserves <paramref name="cost"/> points. True with the time to wait before sending (zero when the bucket
    /// covers it now); false, reserving nothing, with the time after which to try again when that wait would be
    /// longer than <paramref name="maxWait"/>.
    /// </summary>
    public bool TryReserve(string shop, double cost, TimeSpan maxWait, out TimeSpan wait)
    {
        wait = TimeSpan.Zero;
        if (!_buckets.TryGetValue(shop, out var b)) return true;
        lock (b)
        {
            Refill(b);
            if (b.RestoreRate <= 0) return true;
            var deficit = cost - b.Available;
            wait = deficit > 0 ? TimeSpan.FromSeconds(deficit / b.RestoreRate) : TimeSpan.Zero;
            if (wait > maxWait) return false;
            b.Available -= cost;
            if (wait > TimeSpan.Zero) b.Waiting += cost;
            return true;
        }
    }

    /// <summary>A call that had to wait is now being sent: Shopify will count it from here on.</summary>
    public void Sending(string shop, double cost)
    {
        if (!_buckets.TryGetValue(shop, out var b)) return;
        lock (b) b.Waiting = Math.Max(0, b.Waiting - cost);
    }

    /// <summary>A call that waited its turn but was not sent (cancelled) gives its points back.</summary>
    public void Release(string shop, double cost)
    {
        if (!_buckets.TryGetValue(shop, out var b)) return;
        lock (b)
        {
            b.Available = Math.Min(b.Maximum, b.Available + cost);
            b.Waiting = Math.Max(0, b.Waiting - cost);
        }
    }

    /// <summary>What Shopify said about the bucket in a response (successful or THROTTLED).</summary>
    public void Observe(string shop, string document, double? requestedCost, double maximum, double currentlyAvailable, double restoreRate)
    {
        if (requestedCost is > 0 and var c) _costs[document] = c;
        if (maximum <= 0 || restoreRate <= 0) return;
        var b = _buckets.GetOrAdd(shop, _ => new Bucket { Maximum = maximum, RestoreRate = restoreRate, Available = maximum,
            At = clock.GetTimestamp() });
        lock (b)
        {
            b.Maximum = maximum;
            b.RestoreRate = restoreRate;
            // Shopify's figure counts every call that reached it; calls still waiting here have not yet.
            b.Available = currentlyAvailable - b.Waiting;
            b.At = clock.GetTimestamp();
        }
    }

    /// <summary>
    /// How full the emptiest bucket this instance knows of is now (0 empty, 1 full): Shopify's last figure for each
    /// shop, refilled at its restore rate since, less what calls waiting here have reserved. Null before any shop answered.
    /// </summary>
    public double? LowestFill()
    {
        double? lowest = null;
        var now = clock.GetTimestamp();
        foreach (var b in _buckets.Values)
        {
            double fill;
            lock (b) fill = Math.Clamp((b.Available + b.RestoreRate * clock.GetElapsedTime(b.At, now).TotalSeconds) / b.Maximum, 0, 1);
            if (lowest is null || fill < lowest) lowest = fill;
        }
        return lowest;
    }

    private void Refill(Bucket b)
    {
        var now = clock.GetTimestamp();
        b.Available = Math.Min(b.Maximum, b.Available + b.RestoreRate * clock.GetElapsedTime(b.At, now).TotalSeconds);
        b.At = now;
    }
}

/// <summary>
/// Shopify's cost bucket for a shop will not cover a call within the time the caller allows. Nothing was sent;
/// try again after <see cref="RetryAfter"/>.
/// </summary>
public sealed class ShopifyThrottledException(string shop, TimeSpan retryAfter)
    : ShopifyUnavailableException($"Shopify's query cost bucket for {shop} is empty for the next {retryAfter.TotalSeconds:F1} s; nothing was sent.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
