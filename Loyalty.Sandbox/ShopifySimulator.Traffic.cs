using System.Collections.Concurrent;

namespace Loyalty.Sandbox;

/// <summary>
/// What each shop's app traffic looked like from Shopify's side, for the many-shops benchmark: Admin API requests, how many were
/// THROTTLED, how many came with an access token past its expiry (a refresh too late), when its tokens were refreshed, and whether the
/// shop ever went without a valid access token (its latest token expired before the next was issued: a lapse), used or not.
/// </summary>
public sealed partial class ShopifySimulator
{
    public sealed record ShopTraffic(long Requests, long Throttled, long ExpiredTokenUses, IReadOnlyList<DateTimeOffset> Refreshes,
        long TokenLapses = 0, DateTimeOffset? TokenValidUntil = null);

    private sealed class Counters
    {
        public long Requests;
        public long Throttled;
        public long ExpiredTokenUses;
        public readonly ConcurrentQueue<DateTimeOffset> Refreshes = new();
        public long TokenLapses;
        public DateTimeOffset? TokenValidUntil; // the latest access token's expiry, under the simulator's gate
    }

    private readonly ConcurrentDictionary<string, Counters> _traffic = new(StringComparer.Ordinal);

    /// <summary>Each shop's traffic so far.</summary>
    public IReadOnlyDictionary<string, ShopTraffic> Traffic() => _traffic.ToDictionary(t => t.Key, t => new ShopTraffic(
        Interlocked.Read(ref t.Value.Requests), Interlocked.Read(ref t.Value.Throttled), Interlocked.Read(ref t.Value.ExpiredTokenUses),
        [.. t.Value.Refreshes], Interlocked.Read(ref t.Value.TokenLapses), ValidUntil(t.Value)));

    private DateTimeOffset? ValidUntil(Counters counters)
    {
        lock (_gate) return counters.TokenValidUntil;
    }

    /// <summary>A token was issued to <paramref name="shop"/>, valid until <paramref name="until"/>; called under the simulator's gate.</summary>
    private void CountIssued(string shop, DateTimeOffset now, DateTimeOffset until)
    {
        var counters = Of(shop);
        if (counters.TokenValidUntil is { } previous && previous < now) Interlocked.Increment(ref counters.TokenLapses);
        counters.TokenValidUntil = until;
    }

    private Counters Of(string shop) => _traffic.GetOrAdd(shop, _ => new Counters());

    private void CountRequest(string shop) => Interlocked.Increment(ref Of(shop).Requests);

    private void CountThrottled(string shop) => Interlocked.Increment(ref Of(shop).Throttled);

    private void CountExpiredToken(string shop) => Interlocked.Increment(ref Of(shop).ExpiredTokenUses);

    private void CountRefresh(string shop) => Of(shop).Refreshes.Enqueue(DateTimeOffset.UtcNow);
}
