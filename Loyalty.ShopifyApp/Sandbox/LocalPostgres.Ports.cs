using System.Net;
using System.Net.Sockets;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>Free loopback ports for servers started a moment later (the local PostgreSQL, the simulators, the tests' fakes).</summary>
public sealed partial class LocalPostgres
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, byte> HandedOut = new();

    /// <summary>
    /// A loopback port free now, for a server started a moment later (a database, a simulator). It is taken from below the
    /// kernel's ephemeral range: a port from that range (what binding port 0 gives) can be taken meanwhile by any outgoing
    /// connection on the machine, which made servers started on it fail now and then. Never the same port twice per process.
    /// </summary>
    public static int FreePort()
    {
        var below = EphemeralRangeStart();
        for (var attempt = 0; attempt < 200; attempt++)
        {
            var port = Random.Shared.Next(Math.Min(10_000, below / 2), below);
            if (!HandedOut.TryAdd(port, 0)) continue;
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
                // In use: try another.
            }
        }
        using var fallback = new TcpListener(IPAddress.Loopback, 0);
        fallback.Start();
        return ((IPEndPoint)fallback.LocalEndpoint).Port;
    }

    private static int EphemeralRangeStart()
    {
        try
        {
            var first = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' ', '\n'],
                StringSplitOptions.RemoveEmptyEntries)[0];
            return int.TryParse(first, out var start) && start > 2048 ? start : 32768;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 32768;
        }
    }
}
