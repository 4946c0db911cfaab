using System.Collections.Concurrent;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// The access tokens this process read lately, each kept <see cref="ShopifyOptions.AccessTokenCacheSeconds"/> so that a saga's
/// several calls to one shop read <c>shop_tokens</c> once, not once per call. Only a token the database gave out for an installed
/// shop is kept, never past its own refresh window; a refresh, a new grant and an uninstall on this process drop it. What another
/// instance changes meanwhile shows here within the period, and sooner where it matters: Shopify answers 401 to a token it revoked
/// (an uninstall, a refresh), and the 401 path reads the database under the shop's lock
/// (<see cref="AccessTokens.RefreshAfterUnauthorizedAsync"/>), dropping what was kept. The accepted limit: for up to the period, a
/// token another instance forgot (a refused refresh) while Shopify still takes it may be used here; hence a period of seconds.
/// </summary>
public sealed class AccessTokenCache(IOptions<ShopifyOptions> options, TimeProvider clock)
{
    /// <summary>More shops than this kept at once and the cache starts over: memory stays bounded whatever the number of shops.</summary>
    internal const int MaxShops = 10_000;

    /// <summary>A class, not a record: compared by reference (the entry read is the one removed), and no generated ToString to print
    /// the token.</summary>
    private sealed class Entry(string token, DateTimeOffset? expiresAt, DateTimeOffset keptUntil)
    {
        public string Token { get; } = token;
        public DateTimeOffset? ExpiresAt { get; } = expiresAt;
        public DateTimeOffset KeptUntil { get; } = keptUntil;
    }

    private readonly ConcurrentDictionary<string, Entry> _tokens = new(StringComparer.Ordinal);
    private long _drops;

    /// <summary>Taken before reading a token from the database, handed to <see cref="Keep"/>: a drop in between (a refresh or an
    /// uninstall that committed while the read was under way) means what was read may be stale, and it is not kept.</summary>
    public long Version => Interlocked.Read(ref _drops);

    /// <summary>The shop's token if one was kept, is still within its period and is not due for a refresh.</summary>
    public bool TryGet(string shop, out string token)
    {
        token = "";
        if (!_tokens.TryGetValue(shop, out var e)) return false;
        var now = clock.GetUtcNow();
        if (now >= e.KeptUntil || AccessTokens.NeedsRefresh(e.ExpiresAt, now, options.Value))
        {
            _tokens.TryRemove(new KeyValuePair<string, Entry>(shop, e)); // only the entry read: a newer one stays
            return false;
        }
        token = e.Token;
        return true;
    }

    /// <summary>Keeps the token the database gave out for <paramref name="shop"/> when <see cref="Version"/> was
    /// <paramref name="readAt"/>; nothing when a drop came since, or the period is 0.</summary>
    public void Keep(string shop, string token, DateTimeOffset? expiresAt, long readAt)
    {
        var seconds = options.Value.AccessTokenCacheSeconds;
        if (seconds <= 0 || Version != readAt) return;
        if (_tokens.Count >= MaxShops) _tokens.Clear();
        var entry = new Entry(token, expiresAt, clock.GetUtcNow().AddSeconds(seconds));
        _tokens[shop] = entry;
        // Checked again once written: a drop that came after the check above either removed this entry or moved the version on.
        if (Version != readAt) _tokens.TryRemove(new KeyValuePair<string, Entry>(shop, entry));
    }

    /// <summary>Drops what was kept for <paramref name="shop"/>: its token is being refreshed, replaced or deleted.</summary>
    public void Drop(string shop)
    {
        Interlocked.Increment(ref _drops);
        _tokens.TryRemove(shop, out _);
    }
}
