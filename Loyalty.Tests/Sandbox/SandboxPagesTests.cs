using Loyalty.ShopifyApp.Sandbox;

namespace Loyalty.Tests.Sandbox;

/// <summary>The sandbox's own endpoints, on an app in sandbox mode.</summary>
public sealed class SandboxPagesTests(SandboxApp sandbox) : IClassFixture<SandboxApp>
{
    private LoyaltyApp App => sandbox.App;

    [Fact]
    public async Task The_sandbox_session_token_opens_the_admin_API_of_the_demo_shop()
    {
        var token = (await App.Http.GetFromJsonAsync<JsonElement>("/sandbox/session-token")).GetProperty("token").GetString();

        var response = await App.Http.SendAsync(LoyaltyApp.AdminWithToken(HttpMethod.Get, "/api/admin/settings", token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(500, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("minConversion").GetInt64());
    }

    [Fact]
    public async Task The_storefront_emulator_signs_like_Shopify_and_passes_API_answers_through()
    {
        var loggedOut = await App.Http.GetAsync("/sandbox/storefront/apps/loyalty/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, loggedOut.StatusCode); // verified by the app, no customer: its own problem
        Assert.Contains("customer_not_logged_in", await loggedOut.Content.ReadAsStringAsync());

        var request = new HttpRequestMessage(HttpMethod.Get, "/sandbox/storefront/apps/loyalty/api/me");
        request.Headers.Add("Cookie", $"{SandboxPages.CustomerCookie}=1003");
        var me = await App.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(12000, (await me.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("balance").GetInt64());

        var page = new HttpRequestMessage(HttpMethod.Get, "/sandbox/storefront/apps/loyalty");
        page.Headers.Add("Cookie", $"{SandboxPages.CustomerCookie}=1003");
        var html = await App.Http.SendAsync(page);
        Assert.Equal("text/html", html.Content.Headers.ContentType!.MediaType);
        var body = await html.Content.ReadAsStringAsync();
        Assert.Contains("SANDBOX storefront emulator", body);
        Assert.Contains("id=\"loyalty-my-page\"", body);
    }

    [Fact]
    public async Task The_order_button_sends_a_signed_webhook_that_awards_points()
    {
        var sent = await App.Http.PostAsJsonAsync("/sandbox/orders", new { customerId = 1002, amount = 40.5 });

        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        Assert.Equal(200, (await sent.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("webhookStatus").GetInt32());
        await LoyaltyApp.WaitUntilAsync(async () => await App.BalanceAsync("demo-shop.myshopify.com", 1002) == 340, "the order's points");
    }

    [Theory]
    [InlineData("""{"target":"mainframe"}""", "invalid_target")]
    [InlineData("""{"target":"pos","rate":1.5}""", "invalid_rate")]
    [InlineData("""{"target":"pos","next":"Explode"}""", "invalid_fault")]
    [InlineData("""{"target":"pos","next":"Slow","only":"refunds"}""", "invalid_fault")]
    [InlineData("""{"target":"shopify","slowDelayMs":100}""", "invalid_fault")]
    public async Task Bad_fault_settings_are_refused_with_a_code(string body, string code)
    {
        var response = await App.Http.PostAsync("/sandbox/faults", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal(code, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Theory]
    [InlineData("POST", "/sandbox/orders", "{not json")]
    [InlineData("POST", "/sandbox/orders", """{"customerId":-5,"amount":10}""")]
    [InlineData("POST", "/sandbox/orders", """{"customerId":1001,"amount":1e9}""")]
    [InlineData("POST", "/sandbox/faults", "{not json")]
    [InlineData("POST", "/sandbox/faults", """{"target":"pos","latencyMs":-1}""")]
    [InlineData("GET", "/sandbox/storefront/login?customer=abc", null)]
    [InlineData("GET", "/sandbox/storefront/login?customer=-1", null)]
    public async Task Malformed_sandbox_requests_get_a_4xx_and_change_nothing(string method, string path, string? body)
    {
        var before = await App.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries");
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");

        var response = await App.Http.SendAsync(request);

        Assert.InRange((int)response.StatusCode, 400, 499);
        Assert.Equal(before, await App.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries"));
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Theory]
    [InlineData("""{"days":-1}""")]
    [InlineData("""{"days":3651}""")]
    [InlineData("""{}""")]
    public async Task The_program_clock_moves_0_to_3650_days_ahead_and_nothing_else(string body)
    {
        var response = await App.Http.PostAsync("/sandbox/clock", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("invalid_days", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var clock = (await App.Http.GetFromJsonAsync<JsonElement>("/sandbox/state")).GetProperty("clock");
        Assert.Equal(0, clock.GetProperty("days").GetInt32());
    }

    [Fact]
    public async Task A_Flow_workflow_turned_on_in_the_sandbox_receives_the_points_of_an_order_placed_there()
    {
        var bad = await App.Http.PostAsJsonAsync("/sandbox/flow", new { trigger = "no-such-trigger", enabled = true });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        Assert.Equal("invalid_trigger", (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        var on = await App.Http.PostAsJsonAsync("/sandbox/flow", new { trigger = "loyalty-points-earned", enabled = true });
        Assert.Equal(HttpStatusCode.OK, on.StatusCode);
        var order = await App.Http.PostAsJsonAsync("/sandbox/orders", new { customerId = 1003, amount = 42.5 });
        var webhookId = (await order.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("webhookId").GetString()!;
        await App.WaitForDeliveryAsync(webhookId, "processed");
        await App.Services.GetRequiredService<Loyalty.ShopifyApp.Features.Flow.FlowDelivery>().DeliverDueAsync(default);

        var flow = await App.Http.GetFromJsonAsync<JsonElement>("/sandbox/flow");
        Assert.True(flow.GetProperty("triggers").EnumerateArray().Single(t => t.GetProperty("handle").GetString() == "loyalty-points-earned")
            .GetProperty("usedByAWorkflow").GetBoolean());
        var run = flow.GetProperty("received").EnumerateArray().First(r => r.GetProperty("handle").GetString() == "loyalty-points-earned");
        Assert.Equal(1003, JsonDocument.Parse(run.GetProperty("payload").GetString()!).RootElement.GetProperty("customer_id").GetInt64());
    }

    [Fact]
    public async Task Faults_set_on_demand_reach_the_simulator()
    {
        var response = await App.Http.PostAsJsonAsync("/sandbox/faults", new { target = "pos", rate = 0.2, latencyMs = 40 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var state = await App.Http.GetFromJsonAsync<JsonElement>("/sandbox/state");
        Assert.Equal(0.2, state.GetProperty("pos").GetProperty("rate").GetDouble());
        Assert.Equal(40, state.GetProperty("pos").GetProperty("latencyMs").GetInt32());
    }
}
