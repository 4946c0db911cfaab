using System.Collections.Concurrent;

namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// The intake's memory of shops it recently found installed, so that each of a flash sale's deliveries does not take a
/// connection only to ask. Only "installed" is remembered, for <see cref="WebhookOptions.InstalledShopCacheSeconds"/>; an
/// unknown or uninstalled shop is asked every time. A delivery for a shop uninstalled meanwhile (on another instance, or on an
/// intake-only one: the instance that handles the uninstall forgets the shop) is stored and then skipped by the processor,
/// which checks the shop again in the delivery's own transaction. At most <see cref="MaxShops"/> shops are remembered.
/// </summary>
public sealed class InstalledShops(TimeProvider clock, IOptions<WebhookOptions> options)
{
    public const int MaxShops = 10_000;

    private readonly ConcurrentDictionary<string, DateTimeOffset> _until = new(StringComparer.Ordinal);
    private long _forgets;

    public bool IsKnownInstalled(string shop) => _until.TryGetValue(shop, out var until) && clock.GetUtcNow() < until;

    /// <summary>Taken before the database is asked, and given back to <see cref="Remember"/>.</summary>
    public long Version => Interlocked.Read(ref _forgets);

    /// <summary>
    /// Remembers that <paramref name="shop"/> was installed when asked, unless a shop was forgotten since
    /// <paramref name="askedAt"/> (the answer may predate that uninstall).
    /// </summary>
    public void Remember(string shop, long askedAt)
    {
        var seconds = options.Value.InstalledShopCacheSeconds;
        if (seconds == 0) return;
        if (_until.Count >= MaxShops) _until.Clear(); // bounded: the next deliveries ask again
        _until[shop] = clock.GetUtcNow().AddSeconds(seconds);
        if (Version != askedAt) _until.TryRemove(shop, out _);
    }

    public void Forget(string shop)
    {
        Interlocked.Increment(ref _forgets);
        _until.TryRemove(shop, out _);
    }
}
