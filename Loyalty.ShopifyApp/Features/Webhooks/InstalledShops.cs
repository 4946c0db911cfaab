using System.Collections.Concurrent;

namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// The intake's memory of shops it recently found installed, so that each of a flash sale's deliveries does not take a
/// connection only to ask. Only "installed" is remembered, for <see cref="WebhookOptions.InstalledShopCacheSeconds"/>; an
/// unknown or uninstalled shop is asked every time. A delivery for a shop uninstalled meanwhile (on another instance: this
/// one forgets the shop when it handles the uninstall) is stored and then skipped by the processor, which checks the shop
/// again in the delivery's own transaction. At most <see cref="MaxShops"/> shops are remembered.
/// </summary>
public sealed class InstalledShops(TimeProvider clock, IOptions<WebhookOptions> options)
{
    public const int MaxShops = 10_000;

    private readonly ConcurrentDictionary<string, DateTimeOffset> _until = new(StringComparer.Ordinal);

    public bool IsKnownInstalled(string shop) => _until.TryGetValue(shop, out var until) && clock.GetUtcNow() < until;

    public void Remember(string shop)
    {
        var seconds = options.Value.InstalledShopCacheSeconds;
        if (seconds == 0) return;
        if (_until.Count >= MaxShops) _until.Clear(); // bounded: the next deliveries ask again
        _until[shop] = clock.GetUtcNow().AddSeconds(seconds);
    }

    public void Forget(string shop) => _until.TryRemove(shop, out _);
}
