using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// Failed jobs-dashboard logins per client address, in this instance's memory: <see cref="JobsOptions.DashboardMaxFailedLogins"/>
/// failures within <see cref="JobsOptions.DashboardLockoutSeconds"/> lock the address out for that long. IPv6 clients are
/// counted per /64 (one host can hold a whole /64). Behind a proxy every client has the proxy's address, which is one
/// more reason the dashboard belongs on an internal network.
/// </summary>
public sealed class DashboardLockout(IOptions<JobsOptions> options, TimeProvider clock)
{
    private const int PruneAbove = 10_000;

    private sealed record Entry(int Failures, DateTimeOffset Since, DateTimeOffset? LockedUntil);

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    private TimeSpan Window => TimeSpan.FromSeconds(options.Value.DashboardLockoutSeconds);

    /// <summary>How long <paramref name="client"/> is still locked out, or null.</summary>
    public TimeSpan? LockedFor(IPAddress? client)
    {
        var now = clock.GetUtcNow();
        return _entries.TryGetValue(Key(client), out var e) && e.LockedUntil is { } until && until > now ? until - now : null;
    }

    /// <summary>Counts a failed login; true when it locked the address out.</summary>
    public bool Failed(IPAddress? client)
    {
        var now = clock.GetUtcNow();
        if (_entries.Count > PruneAbove) Prune(now);
        var entry = _entries.AddOrUpdate(Key(client),
            _ => Next(new Entry(0, now, null), now),
            (_, e) => Next(e.Since + Window <= now ? new Entry(0, now, null) : e, now));
        return entry.LockedUntil is not null && entry.Failures == options.Value.DashboardMaxFailedLogins;
    }

    public void Succeeded(IPAddress? client) => _entries.TryRemove(Key(client), out _);

    private Entry Next(Entry e, DateTimeOffset now)
    {
        var failures = e.Failures + 1;
        return e with { Failures = failures, LockedUntil = failures >= options.Value.DashboardMaxFailedLogins ? now + Window : e.LockedUntil };
    }

    private void Prune(DateTimeOffset now)
    {
        foreach (var (key, e) in _entries)
        {
            if ((e.LockedUntil ?? e.Since + Window) <= now) _entries.TryRemove(key, out _);
        }
    }

    private static string Key(IPAddress? client)
    {
        if (client is null) return "unknown";
        if (client.IsIPv4MappedToIPv6) client = client.MapToIPv4();
        if (client.AddressFamily != AddressFamily.InterNetworkV6) return client.ToString();
        var bytes = client.GetAddressBytes();
        Array.Clear(bytes, 8, 8);
        return new IPAddress(bytes) + "/64";
    }
}
