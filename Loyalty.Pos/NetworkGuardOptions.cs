using System.Net;

namespace Loyalty.Pos;

/// <summary>
/// Section <c>NetworkGuard</c>: networks outbound calls to merchant-entered URLs (POS, event endpoints) must never reach,
/// besides the special-purpose ranges and this host's interface addresses that <see cref="NetworkGuard"/> always refuses:
/// the public addresses this deployment is reached by (a NAT gateway, a load balancer, a cloud instance's public IP),
/// its own services' public addresses, anything the operator wants kept out. Refused even where private networks are
/// allowed (the sandbox).
/// </summary>
public sealed class NetworkGuardOptions
{
    public const string Section = "NetworkGuard";

    /// <summary>
    /// Addresses or CIDR networks (<c>203.0.113.10</c>, <c>198.51.100.0/24</c>, <c>2001:db8::/48</c>). An IPv4 network may also be
    /// written IPv4-mapped (<c>::ffff:203.0.113.0/120</c>); it is read as the IPv4 network it maps.
    /// </summary>
    public string[] DeniedNetworks { get; set; } = [];

    private IReadOnlyList<IPNetwork>? _denied;

    /// <summary><see cref="DeniedNetworks"/>, parsed (entries that do not parse are refused at start-up).</summary>
    internal IReadOnlyList<IPNetwork> Denied => _denied ??= [.. DeniedNetworks.SelectMany(e => TryParse(e, out var n) ? AsCompared(n) : [])];

    internal IEnumerable<string> Errors()
    {
        foreach (var entry in DeniedNetworks)
        {
            if (!TryParse(entry, out _)) yield return $"NetworkGuard:DeniedNetworks: '{entry}' is not an IP address or a CIDR network.";
        }
    }

    /// <summary>
    /// The network as addresses are compared with it: the guard compares an IPv4-mapped address as the IPv4 address it maps, so
    /// a mapped network (<c>::ffff:203.0.113.0/120</c>) is the IPv4 network it maps (<c>203.0.113.0/24</c>), and an IPv6 network
    /// that holds every mapped address (<c>::/64</c>) holds every IPv4 address too.
    /// </summary>
    private static IEnumerable<IPNetwork> AsCompared(IPNetwork network)
    {
        if (network.BaseAddress.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6)
        {
            yield return network;
            yield break;
        }
        if (network.PrefixLength >= 96 && network.BaseAddress.IsIPv4MappedToIPv6)
        {
            yield return new IPNetwork(network.BaseAddress.MapToIPv4(), network.PrefixLength - 96);
            yield break;
        }
        yield return network;
        if (HoldsEveryMappedAddress(network)) yield return new IPNetwork(IPAddress.Any, 0);
    }

    /// <summary>True when <paramref name="network"/> (IPv6, /96 or wider) holds <c>::ffff:0:0/96</c>, every IPv4-mapped address.</summary>
    private static bool HoldsEveryMappedAddress(IPNetwork network)
    {
        if (network.PrefixLength > 96) return false;
        // Compared bit by bit: IPNetwork.Contains answers true for ::ffff:0.0.0.0 in networks that do not hold it.
        var bytes = network.BaseAddress.GetAddressBytes();
        for (var bit = 0; bit < network.PrefixLength; bit++)
        {
            var mask = 0x80 >> (bit % 8);
            var mapped = bit is >= 80 and < 96 ? mask : 0; // ::ffff:0:0 is 80 zero bits, then 16 ones
            if ((bytes[bit / 8] & mask) != mapped) return false;
        }
        return true;
    }

    private static bool TryParse(string? entry, out IPNetwork network)
    {
        network = default;
        var text = entry?.Trim() ?? "";
        if (text.Contains('/')) return IPNetwork.TryParse(text, out network);
        if (!IPAddress.TryParse(text, out var address)) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        network = new IPNetwork(address, address.GetAddressBytes().Length * 8);
        return true;
    }
}
