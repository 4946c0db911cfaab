using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Loyalty.Pos;

/// <summary>
/// Outbound HTTP to addresses merchants type in (POS URLs, event endpoints) may reach only public unicast
/// addresses (server-side request forgery): never an address of the IANA IPv4 and IPv6 special-purpose
/// registries, multicast, or an address of this host itself. The rule is enforced when each connection is made,
/// on every address the name resolves to, so a DNS name that points inward (or is rebound to point inward after
/// the URL was checked) is refused too. The same rule checks URLs when a merchant saves one, so a literal address
/// is refused with a field error before anything is sent. This host's addresses are those of its interfaces; the public
/// addresses it is reached by through NAT, a load balancer or a cloud provider are not among them, so a deployment lists
/// those (and anything else of its own) in <see cref="NetworkGuardOptions.DeniedNetworks"/>, refused always.
/// </summary>
public static partial class NetworkGuard
{
    /// <summary>
    /// The IANA special-purpose registries (iana.org/assignments/iana-ipv4-special-registry and
    /// iana-ipv6-special-registry), globally reachable or not, plus multicast and limited broadcast.
    /// </summary>
    private static readonly IPNetwork[] SpecialPurpose = [.. new[]
    {
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24",
        "192.31.196.0/24", "192.52.193.0/24", "192.88.99.0/24", "192.168.0.0/16", "192.175.48.0/24", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", // 240/4 includes 255.255.255.255
        "::/128", "::1/128", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "100:0:0:1::/64", "2001::/23", "2001:db8::/32",
        "2002::/16", "2620:4f:8000::/48", "3fff::/20", "5f00::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    }.Select(s => IPNetwork.Parse(s))];

    /// <summary>IPv6 outside this block is not global unicast (IPv4-compatible, unallocated, and the ranges above).</summary>
    private static readonly IPNetwork GlobalUnicastV6 = IPNetwork.Parse("2000::/3");

    private static readonly TimeSpan HostAddressesMaxAge = TimeSpan.FromSeconds(30);
    private sealed record HostAddressSnapshot(long At, IReadOnlySet<IPAddress> Addresses);
    private static volatile HostAddressSnapshot? _hostAddresses; // one reference, so readers never see half of an update

    /// <summary>
    /// A handler whose every connection goes only to addresses <see cref="IsPublic(IPAddress)"/> allows, unless private
    /// networks are allowed; never to <paramref name="guard"/>'s denied networks. <paramref name="logger"/> hears when this
    /// host's own addresses cannot be read.
    /// </summary>
    public static SocketsHttpHandler CreateHandler(bool allowPrivateNetworks, NetworkGuardOptions? guard = null, ILogger? logger = null) => new()
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        // A redirect is a URL the merchant did not enter; the caller sees the 3xx instead of following it with its credentials.
        AllowAutoRedirect = false,
        // Through an HTTP proxy the callback would check the proxy's address, not the merchant's host.
        UseProxy = false,
        ConnectCallback = (context, ct) => ConnectAsync(context, allowPrivateNetworks, guard?.Denied ?? [], logger, ct),
    };

    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, bool allowPrivate, IReadOnlyList<IPNetwork> denied,
        ILogger? logger, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        // Where the host led and why it was refused is for the operator's log: the exception's message reaches merchants.
        if (addresses.FirstOrDefault(a => IsDenied(a, denied)) is { } deniedAddress)
        {
            if (logger is not null) LogRefused(logger, host, deniedAddress.ToString(),
                "in a network this deployment denies (NetworkGuard:DeniedNetworks)");
            throw new OutboundAddressRefusedException();
        }
        if (!allowPrivate && addresses.FirstOrDefault(a => !IsPublic(a, HostAddresses(logger))) is { } refused)
        {
            if (logger is not null) LogRefused(logger, host, refused.ToString(), "a special-purpose address or one of this host's own");
            throw new OutboundAddressRefusedException();
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(addresses, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>True for a public unicast address that is not one of this host's own.</summary>
    public static bool IsPublic(IPAddress address) => IsPublic(address, HostAddresses(null));

    /// <summary>
    /// True when <paramref name="address"/> is in one of <paramref name="denied"/>, or is an IPv6 translation of an IPv4 address
    /// that is: where private networks are allowed, a NAT64 or 6to4 gateway would otherwise carry a connection to a denied
    /// IPv4 address (elsewhere those ranges are refused as special-purpose anyway).
    /// </summary>
    public static bool IsDenied(IPAddress address, IReadOnlyList<IPNetwork> denied)
    {
        address = Normalize(address);
        return denied.Any(n => n.Contains(address)) || EmbeddedIPv4(address) is { } carried && denied.Any(n => n.Contains(carried));
    }

    private static readonly IPNetwork Nat64 = IPNetwork.Parse("64:ff9b::/96");
    private static readonly IPNetwork SixToFour = IPNetwork.Parse("2002::/16");
    private static readonly IPNetwork IPv4Compatible = IPNetwork.Parse("::/96");
    private static readonly IPNetwork IPv4Translated = IPNetwork.Parse("::ffff:0:0:0/96");

    /// <summary>
    /// The IPv4 address an IPv6 address carries: NAT64 (<c>64:ff9b::a.b.c.d</c>), 6to4 (<c>2002:AABB:CCDD::/48</c>),
    /// IPv4-compatible (<c>::a.b.c.d</c>, deprecated) and IPv4-translated (<c>::ffff:0:a.b.c.d</c>); IPv4-mapped ones are
    /// normalized before. Null for any other address.
    /// </summary>
    private static IPAddress? EmbeddedIPv4(IPAddress address)
    {
        if (address.AddressFamily != AddressFamily.InterNetworkV6) return null;
        var bytes = address.GetAddressBytes();
        if (Nat64.Contains(address) || IPv4Compatible.Contains(address)
            || IPv4Translated.Contains(address)) return new IPAddress(bytes.AsSpan(12, 4));
        if (SixToFour.Contains(address)) return new IPAddress(bytes.AsSpan(2, 4));
        return null;
    }

    /// <summary>As <see cref="IsPublic(IPAddress)"/>, with this host's addresses given.</summary>
    public static bool IsPublic(IPAddress address, IReadOnlySet<IPAddress> hostAddresses)
    {
        address = Normalize(address);
        if (address.AddressFamily == AddressFamily.InterNetworkV6 && !GlobalUnicastV6.Contains(address)) return false;
        return !SpecialPurpose.Any(n => n.Contains(address)) && !hostAddresses.Contains(address);
    }

    /// <summary>
    /// Why a merchant-entered URL may not be used, or null when it may: absolute, https (http only when
    /// <paramref name="allowHttp"/>), no credentials, and no literal address or local name this guard would refuse
    /// (names are checked again, resolved, at connect time).
    /// </summary>
    public static string? UrlError(string url, bool allowHttp, bool allowPrivateNetworks, NetworkGuardOptions? guard = null)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("https" or "http") || uri.UserInfo.Length > 0
            || url.Length > 500)
            return "Must be an absolute https URL without credentials.";
        if (uri.Scheme == "http" && !allowHttp) return "Must use https.";
        if (IPAddress.TryParse(uri.DnsSafeHost, out var literal) && IsDenied(literal, guard?.Denied ?? []))
            return "Must not point at an address this service denies.";
        if (!allowPrivateNetworks && (uri.IsLoopback || IPAddress.TryParse(uri.DnsSafeHost, out var ip) && !IsPublic(ip)))
            return "Must not point at a loopback or private network address, nor at any other special-purpose or this server's own address.";
        return null;
    }

    /// <summary>Every address of this host's interfaces, re-read at most every 30 seconds (addresses change).</summary>
    private static IReadOnlySet<IPAddress> HostAddresses(ILogger? logger)
    {
        var now = Environment.TickCount64;
        if (_hostAddresses is { } cached && now - cached.At < HostAddressesMaxAge.TotalMilliseconds) return cached.Addresses;
        HashSet<IPAddress> addresses;
        try
        {
            addresses = [.. NetworkInterface.GetAllNetworkInterfaces()
                .SelectMany(i => i.GetIPProperties().UnicastAddresses)
                .Select(a => Normalize(a.Address))];
        }
        catch (NetworkInformationException e)
        {
            // The registries above still cover loopback and private addresses; public ones of this host go unrefused.
            if (logger is not null) LogHostAddressesUnknown(logger, e);
            addresses = [];
        }
        _hostAddresses = new HostAddressSnapshot(now, addresses);
        return addresses;
    }

    /// <summary>IPv4-mapped IPv6 is checked as the IPv4 address it carries; IPv6 scope ids do not make another address.</summary>
    private static IPAddress Normalize(IPAddress address) =>
        address.IsIPv4MappedToIPv6 ? address.MapToIPv4()
        : address.AddressFamily == AddressFamily.InterNetworkV6 && address.ScopeId != 0 ? new IPAddress(address.GetAddressBytes())
        : address;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Outbound guard: a connection to {Host} was refused: it resolves to {Address}, {Why}")]
    private static partial void LogRefused(ILogger logger, string host, string address, string why);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Outbound guard: this host's own addresses could not be read, so only the special-purpose ranges and NetworkGuard:DeniedNetworks " +
            "are refused; list this host's public addresses there")]
    private static partial void LogHostAddressesUnknown(ILogger logger, Exception exception);
}
