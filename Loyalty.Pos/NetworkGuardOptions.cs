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

    /// <summary>Addresses or CIDR networks (<c>203.0.113.10</c>, <c>198.51.100.0/24</c>, <c>2001:db8::/48</c>).</summary>
    public string[] DeniedNetworks { get; set; } = [];

    private IReadOnlyList<IPNetwork>? _denied;

    /// <summary><see cref="DeniedNetworks"/>, parsed (entries that do not parse are refused at start-up).</summary>
    internal IReadOnlyList<IPNetwork> Denied => _denied ??= [.. DeniedNetworks.Select(e => TryParse(e, out var n) ? n : default)
        .Where(n => n.BaseAddress is not null)];

    internal IEnumerable<string> Errors()
    {
        foreach (var entry in DeniedNetworks)
        {
            if (!TryParse(entry, out _)) yield return $"NetworkGuard:DeniedNetworks: '{entry}' is not an IP address or a CIDR network.";
        }
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
