using Loyalty.ShopifyApp.Sandbox;
using Loyalty.Tests.Features.Conversion;

namespace Loyalty.Tests.Features.Settings;

/// <summary>"Test connection" in the settings: proves the POS is reached and takes the key, touching no points.</summary>
public sealed class PosConnectionTestTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
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
        await Pos.SettledAsync(1);
        var call = Assert.Single(Pos.LogEntries);
        Assert.Equal("GET", call.RequestMessage!.Method);
        Assert.Equal("Bearer the-key", call.RequestMessage.Headers!["Authorization"].Single());
        Assert.Equal("ledger",
            await App.ScalarAsync<string>("SELECT coalesce((SELECT balance_source FROM shop_settings WHERE shop_domain = @shop), 'ledger')",
            new { shop = Shop }));
    }

    [Fact]
    public async Task A_typed_key_is_tested_even_when_the_saved_key_can_no_longer_be_read()
    {
        // The app's data-protection keys changed since the key was saved: the POS sync tells the merchant to save it again.
        await UsePosAsync(100);
        Assert.Equal(1, await App.ScalarAsync<int>(
            "UPDATE shop_settings SET pos_api_key_protected = 'not-a-protected-key' WHERE shop_domain = @shop RETURNING 1", new { shop = Shop }));
        LookupAnswers(404, new { error = "not_found" });

        var (status, body) = await TestAsync(new { posBaseUrl = Pos.Url, posApiKey = "the-new-key" });

        Assert.Equal(HttpStatusCode.OK, status); // before the fix: 500, the saved key decrypted to name the shared circuit
        Assert.True(body.GetProperty("ok").GetBoolean());
        await Pos.SettledAsync(1);
        Assert.Equal("Bearer the-new-key", Assert.Single(Pos.LogEntries, e => e.RequestMessage!.Path == "/transactions/loyalty:connection-test")
            .RequestMessage!.Headers!["Authorization"].Single());
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
    public async Task Every_network_failure_gets_one_generic_answer_so_the_test_is_no_port_scanner()
    {
        Pos.Given(Request.Create().WithPath("/broken/transactions/loyalty:connection-test").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(500));
        Pos.Given(Request.Create().WithPath("/html/transactions/loyalty:connection-test").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBody("<html>router login</html>"));
        using var closer = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0); // accepts, then hangs up
        closer.Start();
        _ = Task.Run(async () =>
        {
            try
            {
                while (true) (await closer.AcceptTcpClientAsync()).Dispose();
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or ObjectDisposedException) { }
        });
        var port = new Uri(Pos.Url!).Port;
        string[] targets =
        [
            $"http://127.0.0.1:{LocalPostgres.FreePort()}", // nothing listens: connection refused
            $"https://127.0.0.1:{port}", // TLS to a plain-HTTP port: handshake fails
            $"http://127.0.0.1:{((IPEndPoint)closer.LocalEndpoint).Port}", // connection reset
            Pos.Url + "/broken", // HTTP 500
            Pos.Url + "/html", // something that is not a POS
        ];

        var answers = new List<JsonElement>();
        foreach (var target in targets) answers.Add((await TestAsync(new { posBaseUrl = target, posApiKey = "k" })).Body);

        Assert.All(answers, a => Assert.Equal((false, "pos_unreachable"), (a.GetProperty("ok").GetBoolean(), a.GetProperty("error").GetString())));
        Assert.Single(answers.Select(a => a.GetProperty("detail").GetString()).Distinct());
        closer.Stop();
    }

    [Fact]
    public async Task A_POS_answering_a_huge_body_fails_the_test_quickly_without_reading_it()
    {
        using var huge = new HugeAnswerServer(status: 200); // 100 MB, chunked, generated as it is sent
        var watch = System.Diagnostics.Stopwatch.StartNew();

        var (status, body) = await TestAsync(new { posBaseUrl = huge.Url, posApiKey = "k" });

        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal((false, "pos_unreachable"), (body.GetProperty("ok").GetBoolean(), body.GetProperty("error").GetString()));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.Equal(1, huge.Requests);
        Assert.True(huge.BytesSent < 16 * 1024 * 1024, $"{huge.BytesSent} bytes were sent before the app hung up");
    }

    [Fact]
    public async Task The_saved_key_is_never_sent_to_another_url()
    {
        using var other = WireMock.Server.WireMockServer.Start();
        other.Given(Request.Create().UsingAnyMethod()).RespondWith(Response.Create().WithStatusCode(404).WithBodyAsJson(new { error = "not_found" }));
        LookupAnswers(404, new { error = "not_found" });
        await SetAsync(new { posBaseUrl = Pos.Url, posApiKey = "saved-key" });

        var (status, body) = await TestAsync(new { posBaseUrl = other.Url });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, status);
        Assert.Equal("pos_api_key_required", body.GetProperty("code").GetString());
        Assert.True(body.GetProperty("errors").TryGetProperty("posApiKey", out _));
        Assert.Empty(other.LogEntries);
        // The saved URL is tried with the saved key, another URL with the key typed for it.
        Assert.True((await TestAsync(new { })).Body.GetProperty("ok").GetBoolean());
        await Pos.SettledAsync(1);
        Assert.Equal("Bearer saved-key", Assert.Single(Pos.LogEntries).RequestMessage!.Headers!["Authorization"].Single());
        Assert.True((await TestAsync(new { posBaseUrl = other.Url, posApiKey = "typed-key" })).Body.GetProperty("ok").GetBoolean());
        await other.SettledAsync(1);
        Assert.Equal("Bearer typed-key", Assert.Single(other.LogEntries).RequestMessage!.Headers!["Authorization"].Single());
        other.Stop();
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
