using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using IPNetwork = System.Net.IPNetwork;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// Section <c>Http</c>: the reverse proxies in front of this instance. Only a request that arrives from one of
/// <see cref="TrustedProxies"/> may say who the client is (<c>X-Forwarded-For</c>) and how it came (<c>X-Forwarded-Proto</c>);
/// from anyone else those headers are ignored, so a client cannot pick its own address. What uses the client address:
/// the jobs dashboard's lockout, which behind an untrusted proxy would lock every operator out at once.
/// </summary>
public sealed class HttpOptions
{
    public const string Section = "Http";

    /// <summary>
    /// Addresses or CIDR networks (<c>10.0.4.7</c>, <c>10.0.4.0/28</c>, <c>::1</c>) of the proxies whose forwarded headers count:
    /// the proxies' own addresses, not the internal network they sit in (anything else there could name any client).
    /// Networks wider than <see cref="WidestIPv4Prefix"/> (IPv4) or <see cref="WidestIPv6Prefix"/> (IPv6) are refused at start-up.
    /// </summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>The widest IPv4 network accepted as proxies (/8): 0.0.0.0/0 would let every client name itself.</summary>
    public const int WidestIPv4Prefix = 8;

    /// <summary>The widest IPv6 network accepted as proxies (/32, a provider's allocation).</summary>
    public const int WidestIPv6Prefix = 32;

    /// <summary>How many proxies, from the nearest, may each add an address to <c>X-Forwarded-For</c>.</summary>
    public int ForwardLimit { get; set; } = 1;

    internal const string Rule = "Http: every TrustedProxies entry must be an IP address or a CIDR network (like 10.0.4.0/28), "
                                 + "and ForwardLimit 1-10.";

    internal bool IsValid() => ForwardLimit is >= 1 and <= 10 && TrustedProxies.All(p => TryNetwork(p, out _));

    /// <summary>Entries that parse but span more than proxies could: each is named, with the bound it breaks.</summary>
    internal IEnumerable<string> TooBroad()
    {
        foreach (var entry in TrustedProxies)
        {
            if (!TryNetwork(entry, out var network)) continue;
            // IPv4 clients of a dual-stack listener arrive IPv4-mapped (::ffff:a.b.c.d), and the forwarded-headers middleware
            // matches them as they arrive too: a mapped network is as wide as the IPv4 network it maps, and an IPv6 network
            // holding all of ::ffff:0:0/96 (::/64, ::/0) holds every IPv4 client.
            var v6 = network.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
            var (v4, prefix) = v6 && HoldsEveryMappedAddress(network) ? (true, 0)
                : v6 && network.BaseAddress.IsIPv4MappedToIPv6 ? (true, network.PrefixLength - 96)
                : (!v6, network.PrefixLength);
            if (v4 && prefix < WidestIPv4Prefix || !v4 && prefix < WidestIPv6Prefix)
            {
                yield return $"Http:TrustedProxies: '{entry.Trim()}' is too broad (at most /{WidestIPv4Prefix} for IPv4, /{WidestIPv6Prefix} for " +
                    $"IPv6): "
                             + "a client anywhere in it could name any address. List the proxies' own addresses.";
            }
        }
    }

    internal static bool TryNetwork(string? entry, out IPNetwork network)
    {
        network = default;
        var text = entry?.Trim() ?? "";
        if (text.Contains('/')) return IPNetwork.TryParse(text, out network);
        if (!IPAddress.TryParse(text, out var address)) return false;
        network = new IPNetwork(address, address.GetAddressBytes().Length * 8);
        return true;
    }

    /// <summary>True when <paramref name="network"/> (IPv6) holds all of <c>::ffff:0:0/96</c>, compared bit by bit.</summary>
    private static bool HoldsEveryMappedAddress(IPNetwork network)
    {
        if (network.PrefixLength > 96) return false;
        var bytes = network.BaseAddress.GetAddressBytes();
        for (var bit = 0; bit < network.PrefixLength; bit++)
        {
            var mask = 0x80 >> (bit % 8);
            if ((bytes[bit / 8] & mask) != (bit is >= 80 and < 96 ? mask : 0)) return false; // 80 zero bits, then 16 ones
        }
        return true;
    }
}

public static class ForwardedClients
{
    public static IServiceCollection AddForwardedClients(this IServiceCollection services)
    {
        services.AddOptions<HttpOptions>().BindConfiguration(HttpOptions.Section)
            .Validate(o => o.IsValid(), HttpOptions.Rule)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<HttpOptions>, TooBroadProxies>();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<HttpOptions>>((forwarded, http) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.ForwardLimit = http.Value.ForwardLimit;
            // The framework trusts loopback by default; here only what is configured is trusted.
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var entry in http.Value.TrustedProxies)
            {
                if (HttpOptions.TryNetwork(entry, out var network)) forwarded.KnownIPNetworks.Add(network);
            }
        });
        return services;
    }

    private sealed class TooBroadProxies : IValidateOptions<HttpOptions>
    {
        public ValidateOptionsResult Validate(string? name, HttpOptions options) =>
            options.TooBroad().ToList() is { Count: > 0 } errors ? ValidateOptionsResult.Fail(errors) : ValidateOptionsResult.Success;
    }

    /// <summary>Applies forwarded headers from trusted proxies; with none configured, nothing is read from them.</summary>
    public static WebApplication UseForwardedClients(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<HttpOptions>>().Value.TrustedProxies.Length > 0) app.UseForwardedHeaders();
        return app;
    }
}
