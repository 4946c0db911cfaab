using Loyalty.Tests.Features.Conversion;

namespace Loyalty.Tests.Features.Settings;

/// <summary>
/// <c>NetworkGuard:DeniedNetworks</c>: addresses of this deployment that its interfaces do not show (a NAT or cloud public
/// address) are refused for merchant-entered URLs, literal or resolved, even where private networks are allowed. Here the
/// POS simulator's own network stands in for such an address.
/// </summary>
public sealed class DeniedNetworkTests(DeniedNetworkTests.DenyingApp app) : ConversionTestBase<DeniedNetworkTests.DenyingApp>(app)
{
    public sealed class DenyingApp() : ConversionApp(new()
    {
        ["NetworkGuard:DeniedNetworks:0"] = "127.0.0.0/8",
        ["NetworkGuard:DeniedNetworks:1"] = "::1",
        ["Events:AllowInsecureEndpoints"] = "true",
    });

    private async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, object body)
    {
        var response = await App.Http.SendAsync(App.Admin(method, path, Shop, JsonContent.Create(body)));
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    [Fact]
    public async Task A_denied_address_cannot_be_saved_as_the_POS_or_the_event_endpoint()
    {
        var literal = $"http://127.0.0.1:{new Uri(Pos.Url!).Port}";
        var (pos, posBody) = await SendAsync(HttpMethod.Put, "/api/admin/settings", new { posBaseUrl = literal, posApiKey = "k" });
        var (events, eventsBody) = await SendAsync(HttpMethod.Put, "/api/admin/event-endpoint",
            new { url = literal + "/events", secret = "a-secret-of-sixteen-chars" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, pos);
        Assert.True(posBody.GetProperty("errors").TryGetProperty("posBaseUrl", out _), posBody.ToString());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, events);
        Assert.True(eventsBody.GetProperty("errors").TryGetProperty("url", out _), eventsBody.ToString());
        Assert.Null(await App.ScalarAsync<string>("SELECT pos_base_url FROM shop_settings WHERE shop_domain = @Shop", new { Shop }));
    }

    [Fact]
    public async Task A_name_that_resolves_to_a_denied_address_is_refused_when_connecting()
    {
        Pos.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithStatusCode(404).WithBodyAsJson(new { error = "not_found" }));
        var byName = Pos.Url; // http://localhost:port

        var (status, body) = await SendAsync(HttpMethod.Post, "/api/admin/settings/pos/test", new { posBaseUrl = byName, posApiKey = "k" });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((false, "pos_unreachable"), (body.GetProperty("ok").GetBoolean(), body.GetProperty("error").GetString()));
        Assert.Empty(Pos.LogEntries);
    }

    [Fact]
    public async Task A_denied_network_that_does_not_parse_stops_the_start()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AppFixture.StartAsync(
            new() { ["NetworkGuard:DeniedNetworks:0"] = "nat.example.com" }));

        Assert.Contains("DeniedNetworks", error.ToString());
    }
}
