using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Loyalty.Pos;
using Loyalty.ShopifyApp.Features.Events;
using Loyalty.Tests.Features.Conversion;
using Loyalty.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Loyalty.Tests.Features;

// Probes of the audit of issue 13 (response caps, range checks, trusted proxies, denied networks). Each one fails on
// main as of 16260a7 and names the behaviour a fix should give. Run with --filter "FullyQualifiedName~Audit13".

/// <summary>Campaign fields the validation lets through but the database refuses: a 500 instead of a 422.</summary>
public sealed class Audit13CampaignProbeTests : IAsyncLifetime
{
    private readonly ShopifyFake _shopify = new();
    private LoyaltyApp _app = null!;
    private string _shop = null!;

    public async Task InitializeAsync()
    {
        _app = await LoyaltyApp.StartAsync(_shopify, new Dictionary<string, string?> { ["Jobs:ServerEnabled"] = "false" });
        _shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, _shop);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _shopify.Dispose();
    }

    private async Task<(HttpStatusCode Status, string Body)> SendAsync(HttpMethod method, string path, string json, bool idempotent = false)
    {
        using var request = _app.Admin(method, path, _shop, new StringContent(json, Encoding.UTF8, "application/json"));
        if (idempotent) request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        using var response = await _app.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Audit13_a_NUL_character_in_a_campaign_title_is_a_4xx_not_a_500()
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/api/admin/campaigns", """{"title":"Summer\u0000","fixedAmount":5,"code":"NUL1"}""", idempotent: true);

        Assert.True((int)status is >= 400 and < 500, $"{(int)status}: {body}");
    }

    [Fact]
    public async Task Audit13_a_NUL_character_in_a_bonus_description_is_a_4xx_not_a_500()
    {
        var (status, body) = await SendAsync(HttpMethod.Post, "/api/admin/customers/777/points", """{"points":5,"description":"welcome\u0000"}""", idempotent: true);

        Assert.True((int)status is >= 400 and < 500, $"{(int)status}: {body}");
    }
}

/// <summary>Storefront requests a customer can send, and POS answers a POS can give, that end in a 500.</summary>
public sealed class Audit13StorefrontProbeTests : ConversionTestBase
{
    [Fact]
    public async Task Audit13_a_NUL_character_in_storefront_feedback_is_a_4xx_not_a_500()
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/feedback", Shop, Customer))
        {
            Content = new StringContent("""{"message":"Great shop\u0000, thanks!","rating":5}""", Encoding.UTF8, "application/json"),
        };

        using var response = await App.Http.SendAsync(request);

        Assert.True((int)response.StatusCode is >= 400 and < 500, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
    }
}

/// <summary>Loyalty.Pos: denied networks and the per-host circuit breaker.</summary>
public sealed class Audit13PosProbeTests : IDisposable
{
    private readonly WireMockServer _pos = WireMockServer.Start();

    public void Dispose() => _pos.Stop();

    [Fact]
    public void Audit13_a_denied_network_written_as_IPv4_mapped_IPv6_still_denies_its_IPv4_addresses()
    {
        // Accepted at start-up (it parses), but addresses are compared after mapping to IPv4, so it never matches.
        var guard = new NetworkGuardOptions { DeniedNetworks = ["::ffff:8.8.8.0/120"] };

        Assert.NotNull(NetworkGuard.UrlError("https://8.8.8.8/", allowHttp: false, allowPrivateNetworks: false, guard));
        Assert.NotNull(NetworkGuard.UrlError("https://[::ffff:8.8.8.8]/", allowHttp: false, allowPrivateNetworks: false, guard));
    }

    [Theory]
    [InlineData("64:ff9b::808:808")] // NAT64 of 8.8.8.8
    [InlineData("2002:808:808::1")] // 6to4 of 8.8.8.8
    [InlineData("::8.8.8.8")] // IPv4-compatible
    public void Audit13_where_private_networks_are_allowed_a_denied_IPv4_address_is_denied_in_its_IPv6_translations_too(string translated)
    {
        var guard = new NetworkGuardOptions { DeniedNetworks = ["8.8.8.8"] };

        Assert.NotNull(NetworkGuard.UrlError($"https://[{translated}]/", allowHttp: false, allowPrivateNetworks: true, guard));
    }
}
