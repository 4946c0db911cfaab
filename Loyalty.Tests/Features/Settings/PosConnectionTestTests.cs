using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Loyalty.Tests.Features.Conversion;
using Loyalty.ShopifyApp.Infrastructure.Db;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Loyalty.Tests.Features.Settings;

/// <summary>"Test connection" in the settings: proves the POS is reached and takes the key, touching no points.</summary>
public sealed class PosConnectionTestTests : ConversionTestBase
{
    private async Task<(HttpStatusCode Status, JsonElement Body)> TestAsync(object body)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/settings/pos/test", Shop, JsonContent.Create(body)));
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    private void LookupAnswers(int status, object body) =>
        Pos.Given(Request.Create().WithPath("/transactions/loyalty:connection-test").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(body));

    [Fact]
    public async Task A_POS_that_accepts_the_key_passes_without_any_points_moving()
    {
        LookupAnswers(404, new { error = "not_found" });

        var (status, body) = await TestAsync(new { posBaseUrl = Pos.Url, posApiKey = "the-key" });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(body.GetProperty("ok").GetBoolean());
        var call = Assert.Single(Pos.LogEntries);
        Assert.Equal("GET", call.RequestMessage!.Method);
        Assert.Equal("Bearer the-key", call.RequestMessage.Headers!["Authorization"].Single());
        Assert.Equal("ledger", await App.ScalarAsync<string>("SELECT coalesce((SELECT balance_source FROM shop_settings WHERE shop_domain = @shop), 'ledger')", new { shop = Shop }));
    }

    [Fact]
    public async Task A_refused_key_and_an_unreachable_POS_say_what_to_fix()
    {
        LookupAnswers(401, new { error = "unauthorized" });
        var (_, refused) = await TestAsync(new { posBaseUrl = Pos.Url, posApiKey = "wrong" });
        Assert.False(refused.GetProperty("ok").GetBoolean());
        Assert.Equal("pos_key_rejected", refused.GetProperty("error").GetString());

        var (_, unreachable) = await TestAsync(new { posBaseUrl = $"http://127.0.0.1:{LocalPostgres.FreePort()}", posApiKey = "k" });
        Assert.Equal("pos_unreachable", unreachable.GetProperty("error").GetString());
    }

    [Fact]
    public async Task A_missing_or_disallowed_connection_is_a_validation_problem()
    {
        var (status, body) = await TestAsync(new { posBaseUrl = "ftp://pos.example.com" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("invalid_pos_connection", body.GetProperty("code").GetString());
        Assert.True(body.GetProperty("errors").TryGetProperty("posBaseUrl", out _));
        Assert.True(body.GetProperty("errors").TryGetProperty("posApiKey", out _));
        Assert.Empty(Pos.LogEntries);
    }
}
