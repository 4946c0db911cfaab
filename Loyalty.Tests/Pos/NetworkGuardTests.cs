using System.Net.NetworkInformation;
using System.Net.Sockets;
using Loyalty.Pos;

namespace Loyalty.Tests.Pos;

/// <summary>The guard on outbound calls to merchant-entered URLs: the IANA special-purpose registries and this host's own addresses.</summary>
public sealed class NetworkGuardTests
{
    [Theory]
    [InlineData("0.0.0.0")]
    [InlineData("0.1.2.3")]
    [InlineData("10.1.2.3")]
    [InlineData("100.64.0.1")]
    [InlineData("100.127.255.254")]
    [InlineData("127.0.0.1")]
    [InlineData("127.8.9.10")]
    [InlineData("169.254.169.254")]
    [InlineData("172.16.0.1")]
    [InlineData("172.31.255.255")]
    [InlineData("192.0.0.1")]
    [InlineData("192.0.0.170")]
    [InlineData("192.0.2.2")]
    [InlineData("192.31.196.1")]
    [InlineData("192.52.193.1")]
    [InlineData("192.88.99.1")]
    [InlineData("192.168.1.1")]
    [InlineData("192.175.48.1")]
    [InlineData("198.18.0.1")]
    [InlineData("198.19.255.255")]
    [InlineData("198.51.100.7")]
    [InlineData("203.0.113.9")]
    [InlineData("224.0.0.1")]
    [InlineData("239.255.255.250")]
    [InlineData("240.0.0.1")]
    [InlineData("255.255.255.255")]
    [InlineData("::")]
    [InlineData("::1")]
    [InlineData("::ffff:127.0.0.1")]
    [InlineData("::ffff:192.0.2.2")]
    [InlineData("::ffff:0:10.0.0.1")] // IPv4-translated
    [InlineData("::10.0.0.1")] // IPv4-compatible (deprecated)
    [InlineData("64:ff9b::a00:1")] // NAT64 of 10.0.0.1
    [InlineData("64:ff9b::808:808")] // NAT64 of a public address: still a translator inside someone's network
    [InlineData("64:ff9b:1::1")]
    [InlineData("100::1")]
    [InlineData("2001::1")] // Teredo
    [InlineData("2001:2::1")]
    [InlineData("2001:1ff::1")]
    [InlineData("2001:db8::1")]
    [InlineData("2002:a00:1::1")] // 6to4 of 10.0.0.1
    [InlineData("2002:808:808::1")]
    [InlineData("2620:4f:8000::1")]
    [InlineData("3fff::1")]
    [InlineData("5f00::1")]
    [InlineData("fc00::1")]
    [InlineData("fd00::2")]
    [InlineData("fe80::1")]
    [InlineData("fec0::1")]
    [InlineData("ff02::1")]
    public void Special_purpose_addresses_are_never_public(string address) =>
        Assert.False(NetworkGuard.IsPublic(IPAddress.Parse(address)), address);

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("93.184.215.14")]
    [InlineData("100.63.255.255")]
    [InlineData("172.32.0.1")]
    [InlineData("192.0.3.1")]
    [InlineData("198.20.0.1")]
    [InlineData("::ffff:8.8.8.8")]
    [InlineData("2606:4700:4700::1111")]
    [InlineData("2001:200::1")]
    public void Public_unicast_addresses_are_public(string address) =>
        Assert.True(NetworkGuard.IsPublic(IPAddress.Parse(address)), address);

    [Fact]
    public void A_public_address_of_this_host_is_refused_as_its_own()
    {
        var own = new HashSet<IPAddress> { IPAddress.Parse("8.8.8.8"), IPAddress.Parse("2606:4700:4700::1111") };

        Assert.False(NetworkGuard.IsPublic(IPAddress.Parse("8.8.8.8"), own));
        Assert.False(NetworkGuard.IsPublic(IPAddress.Parse("::ffff:8.8.8.8"), own));
        Assert.False(NetworkGuard.IsPublic(IPAddress.Parse("2606:4700:4700::1111"), own));
        Assert.True(NetworkGuard.IsPublic(IPAddress.Parse("8.8.4.4"), own));
    }

    [Fact]
    public void A_denied_network_covers_its_addresses_in_either_form()
    {
        var denied = new NetworkGuardOptions { DeniedNetworks = ["8.8.8.0/24", "2606:4700::/32"] };

        Assert.Equal("Must not point at an address this service denies.", NetworkGuard.UrlError("https://8.8.8.9/pos", false, false, denied));
        Assert.NotNull(NetworkGuard.UrlError("https://[::ffff:8.8.8.8]/pos", false, true, denied)); // even where private networks are allowed
        Assert.NotNull(NetworkGuard.UrlError("https://[2606:4700:4700::1111]/pos", false, false, denied));
        Assert.Null(NetworkGuard.UrlError("https://8.8.4.4/pos", false, false, denied));
    }

    [Fact]
    public void A_denied_network_written_as_IPv4_mapped_IPv6_denies_its_IPv4_addresses()
    {
        // It parsed, but addresses are compared after mapping to IPv4, so as an IPv6 network it never matched.
        var guard = new NetworkGuardOptions { DeniedNetworks = ["::ffff:8.8.8.0/120"] };
        var everyMapped = new NetworkGuardOptions { DeniedNetworks = ["::ffff:0:0/96"] };

        Assert.NotNull(NetworkGuard.UrlError("https://8.8.8.8/", allowHttp: false, allowPrivateNetworks: false, guard));
        Assert.NotNull(NetworkGuard.UrlError("https://[::ffff:8.8.8.8]/", allowHttp: false, allowPrivateNetworks: false, guard));
        Assert.Null(NetworkGuard.UrlError("https://8.8.4.4/", allowHttp: false, allowPrivateNetworks: false, guard));
        Assert.NotNull(NetworkGuard.UrlError("https://1.1.1.1/", allowHttp: false, allowPrivateNetworks: false, everyMapped));
    }

    [Theory]
    [InlineData("64:ff9b::808:808")] // NAT64 of 8.8.8.8
    [InlineData("2002:808:808::1")] // 6to4 of 8.8.8.8
    [InlineData("::8.8.8.8")] // IPv4-compatible
    [InlineData("::ffff:0:808:808")] // IPv4-translated
    public void Where_private_networks_are_allowed_a_denied_IPv4_address_is_denied_in_its_IPv6_translations_too(string translated)
    {
        var guard = new NetworkGuardOptions { DeniedNetworks = ["8.8.8.8"] };

        Assert.NotNull(NetworkGuard.UrlError($"https://[{translated}]/", allowHttp: false, allowPrivateNetworks: true, guard));
        // 8.8.4.4 is not denied
        Assert.Null(NetworkGuard.UrlError("https://[64:ff9b::808:404]/", allowHttp: false, allowPrivateNetworks: true, guard));
    }

    [Fact]
    public void Every_address_of_this_machine_is_refused()
    {
        var addresses = NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(
            a => a.Address).ToList();

        Assert.NotEmpty(addresses);
        Assert.All(addresses, a => Assert.False(NetworkGuard.IsPublic(a), a.ToString()));
    }

    [Fact]
    public async Task A_redirect_is_not_followed_to_a_url_the_merchant_did_not_enter()
    {
        using var pos = WireMock.Server.WireMockServer.Start();
        using var elsewhere = WireMock.Server.WireMockServer.Start();
        pos.Given(WireMock.RequestBuilders.Request.Create().UsingAnyMethod())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(307).WithHeader("Location", elsewhere.Url + "/collect"));
        elsewhere.Given(WireMock.RequestBuilders.Request.Create().UsingAnyMethod())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 1 }));
        await using var services = new ServiceCollection().AddLogging().AddPosClient(
            o => o.AllowPrivateNetworks = true).Services.BuildServiceProvider();

        var balance = await services.GetRequiredService<PosClient>().GetBalanceAsync(new PosConnection(new Uri(pos.Url!), "pos-key"), "777", default);

        Assert.IsType<PosBalance.Unavailable>(balance);
        Assert.Empty(elsewhere.LogEntries);
    }

    [Fact]
    public void The_guarded_handler_connects_itself_and_never_through_a_proxy()
    {
        // Through a proxy (HTTP_PROXY), the connect-time check would see the proxy's address instead of the merchant's host.
        using var handler = NetworkGuard.CreateHandler(allowPrivateNetworks: false);

        Assert.False(handler.UseProxy);
        Assert.NotNull(handler.ConnectCallback);
    }

    [Fact]
    public async Task A_POS_url_naming_this_machine_reaches_no_local_listener()
    {
        // A listener on every interface, reached through the machine's own non-loopback addresses (and its host name).
        using var listener = new TcpListener(IPAddress.IPv6Any, 0);
        listener.Server.DualMode = true;
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var accepted = 0;
        _ = Task.Run(async () =>
        {
            try
            {
                while (true)
                {
                    using var client = await listener.AcceptTcpClientAsync();
                    Interlocked.Increment(ref accepted);
                }
            }
            catch (SocketException) { } // stopped
            catch (ObjectDisposedException) { }
        });
        var own = NetworkInterface.GetAllNetworkInterfaces().SelectMany(i => i.GetIPProperties().UnicastAddresses).Select(a => a.Address)
            .Where(a => !IPAddress.IsLoopback(a) && !a.IsIPv6LinkLocal).ToList();
        var urls = own.Select(a => new Uri($"http://{(a.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString())}:{port}/"))
            .Append(new Uri($"http://{Dns.GetHostName()}:{port}/")).ToList();
        await using var services = new ServiceCollection().AddLogging()
            .AddPosClient(o =>
            {
                o.AllowPrivateNetworks = false;
                o.MaxRetries = 0;
            }).Services.BuildServiceProvider();
        var client = services.GetRequiredService<PosClient>();

        foreach (var url in urls)
        {
            var outcome = await client.DeductAsync(new PosConnection(url, "pos-key"), "777", 500, "conv_own", null, default);
            Assert.Contains("not allowed", Assert.IsType<PosOutcome.Unknown>(outcome).Reason);
        }
        Assert.Equal(0, Volatile.Read(ref accepted));
        listener.Stop();
    }
}
