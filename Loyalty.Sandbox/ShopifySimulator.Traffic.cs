using System.Collections.Concurrent;

namespace Loyalty.Sandbox;

/// <summary>
/// What each shop's app traffic looked like from Shopify's side, for the many-shops benchmark: Admin API requests, how many were
/// THROTTLED, how many came with an access token past its expiry (a refresh too late), and when its tokens were refreshed.
/// </summary>
public sealed partial class ShopifySimulator
{
    public sealed record ShopTraffic(long Requests, long Throttled, long ExpiredTokenUses, IReadOnlyList<DateTimeOffset> Refreshes);

    private sealed class Counters
    {
        public long Requests;
        public long Throttled;
        public long ExpiredTokenUses;
        public readonly ConcurrentQueue<DateTimeOffset> Refreshes = new();
    }

    private readonly ConcurrentDictionary<string, Counters> _traffic = new(StringComparer.Ordinal);

    /// <summary>Each shop's traffic so far.</summary>
    public IReadOnlyDictionary<string, ShopTraffic> Traffic() => _traffic.ToDictionary(t => t.Key, t => new ShopTraffic(
        Interlocked.Read(ref t.Value.Requests), Interlocked.Read(ref t.Value.Throttled), Interlocked.Read(ref t.Value.ExpiredTokenUses),
        [.. t.Value.Refreshes]));

    private Counters Of(string shop) => _traffic.GetOrAdd(shop, _ => new Counters());

    private void CountRequest(string shop) => Interlocked.Increment(ref Of(shop).Requests);

    private void CountThrottled(string shop) => Interlocked.Increment(ref Of(shop).Throttled);

    private void CountExpiredToken(string shop) => Interlocked.Increment(ref Of(shop).ExpiredTokenUses);

    private void CountRefresh(string shop) => Of(shop).Refreshes.Enqueue(DateTimeOffset.UtcNow);
}
