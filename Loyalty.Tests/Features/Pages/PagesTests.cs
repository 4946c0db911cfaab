using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Loyalty.ShopifyApp.Features.Sandbox;
using Loyalty.ShopifyApp.Features.Storefront;
using Loyalty.Tests.Infrastructure;

namespace Loyalty.Tests.Features.Pages;

/// <summary>My Page as Liquid, the embedded admin page, and the sandbox's pages mounted only in the sandbox.</summary>
public sealed class PagesTests : IAsyncLifetime
{
    private readonly ShopifyFake _shopify = new();
    private LoyaltyApp _app = null!;
    private string _shop = null!;

    public async Task InitializeAsync()
    {
        _app = await LoyaltyApp.StartAsync(_shopify);
        _shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, _shop);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _shopify.Dispose();
    }

    [Fact]
    public async Task My_Page_is_Liquid_for_the_theme_with_its_code_in_raw_blocks_and_no_customer_data()
    {
        var response = await _app.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy", _shop, 4242));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/liquid", response.Content.Headers.ContentType!.MediaType);
        var liquid = await response.Content.ReadAsStringAsync();
        Assert.Contains("data-logged-in=\"true\"", liquid);
        Assert.DoesNotContain("4242", liquid);
        var html = SandboxPages.RenderLiquid(liquid); // throws on any Liquid but raw blocks
        Assert.Contains("id=\"lp-convert\"", html);
        Assert.DoesNotContain("{%", html);

        var loggedOut = await (await _app.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy", _shop, null))).Content.ReadAsStringAsync();
        Assert.Contains("data-logged-in=\"false\"", loggedOut);
        Assert.Equal(HttpStatusCode.Unauthorized, (await _app.Http.GetAsync("/proxy?shop=" + _shop)).StatusCode);
    }

    [Fact]
    public void The_storefront_emulator_refuses_Liquid_it_would_render_differently_from_Shopify()
    {
        Assert.Equal("<p>{{ raw }}</p>", SandboxPages.RenderLiquid("<p>{% raw %}{{ raw }}{% endraw %}</p>"));
        Assert.Throws<InvalidOperationException>(() => SandboxPages.RenderLiquid("<p>{{ customer.first_name }}</p>"));
    }

    [Fact]
    public async Task The_admin_page_loads_App_Bridge_and_may_only_be_framed_by_the_shops_admin()
    {
        var response = await _app.Http.GetAsync($"/admin?shop={_shop}&host=abc&embedded=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Equal($"frame-ancestors https://{_shop} https://admin.shopify.com", csp);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("https://cdn.shopify.com/shopifycloud/app-bridge.js", html);
        Assert.Contains($"<meta name=\"shopify-api-key\" content=\"{LoyaltyApp.ApiKey}\">", html);
        Assert.Contains("data-sandbox=\"false\"", html);

        var noShop = await _app.Http.GetAsync("/admin");
        Assert.Equal(HttpStatusCode.OK, noShop.StatusCode);
        Assert.Equal("frame-ancestors https://admin.shopify.com", noShop.Headers.GetValues("Content-Security-Policy").Single());

        var root = await _app.Http.GetAsync($"/?shop={_shop}&host=abc");
        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal($"/admin?shop={_shop}&host=abc", root.Headers.Location!.ToString());
    }

    /// <summary>The shop of /admin is unverified (the page holds no data): it may only reach the CSP header once it is a shop domain.</summary>
    [Theory]
    [InlineData("evil.example.com")]
    [InlineData("{shop}%0A")]
    [InlineData("{shop}%0D%0AX-Injected:%201")]
    [InlineData("{shop}%20https://evil.example")]
    [InlineData("{shop};%20script-src%20*")]
    [InlineData("{shop}&shop=other.myshopify.com")]
    public async Task An_admin_page_for_a_shop_that_is_not_one_is_refused_and_names_no_one_in_its_headers(string shop)
    {
        var response = await _app.Http.GetAsync("/admin?shop=" + shop.Replace("{shop}", _shop, StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid_shop", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.False(response.Headers.Contains("X-Injected"));
        Assert.DoesNotContain(response.Headers.SelectMany(h => h.Value), v => v.Contains("evil", StringComparison.Ordinal)
            || v.Contains(_shop, StringComparison.Ordinal) || v.Contains("other.", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("GET", "/sandbox/state")]
    [InlineData("GET", "/sandbox/session-token")]
    [InlineData("POST", "/sandbox/orders")]
    [InlineData("POST", "/sandbox/faults")]
    [InlineData("GET", "/sandbox/storefront/login?customer=1")]
    [InlineData("GET", "/sandbox/storefront/apps/loyalty/api/me")]
    public async Task Outside_the_sandbox_none_of_the_sandbox_is_mounted(string method, string path)
    {
        var response = await _app.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = method == "POST" ? JsonContent.Create(new { customerId = 1, amount = 10 }) : null,
        });
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public void Conversion_choices_follow_minimum_step_balance_and_the_daily_limit()
    {
        Assert.Equal([500, 700, 900, 1100, 1300, 1500], MyPoints.Choices(500, 100, 1550, 10_000));
        Assert.Equal([500], MyPoints.Choices(500, 100, 550, 10_000));
        Assert.Equal([500, 750], MyPoints.Choices(500, 250, 12_000, 900));
        Assert.Empty(MyPoints.Choices(500, 100, 499, 10_000));
        Assert.Empty(MyPoints.Choices(500, 100, 5000, 400));
    }
}

/// <summary>The sandbox's own endpoints, on an app in sandbox mode.</summary>
public sealed class SandboxPagesTests : IAsyncLifetime
{
    private readonly ShopifyFake _unused = new();
    private LoyaltyApp _app = null!;

    public async Task InitializeAsync() => _app = await LoyaltyApp.StartSandboxAsync(_unused);

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _unused.Dispose();
    }

    [Fact]
    public async Task The_sandbox_session_token_opens_the_admin_API_of_the_demo_shop()
    {
        var token = (await _app.Http.GetFromJsonAsync<JsonElement>("/sandbox/session-token")).GetProperty("token").GetString();

        var response = await _app.Http.SendAsync(LoyaltyApp.AdminWithToken(HttpMethod.Get, "/api/admin/settings", token));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(500, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("minConversion").GetInt64());
    }

    [Fact]
    public async Task The_storefront_emulator_signs_like_Shopify_and_passes_API_answers_through()
    {
        var loggedOut = await _app.Http.GetAsync("/sandbox/storefront/apps/loyalty/api/me");
        Assert.Equal(HttpStatusCode.Unauthorized, loggedOut.StatusCode); // verified by the app, no customer: its own problem
        Assert.Contains("customer_not_logged_in", await loggedOut.Content.ReadAsStringAsync());

        var request = new HttpRequestMessage(HttpMethod.Get, "/sandbox/storefront/apps/loyalty/api/me");
        request.Headers.Add("Cookie", $"{SandboxPages.CustomerCookie}=1003");
        var me = await _app.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, me.StatusCode);
        Assert.Equal(12000, (await me.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("balance").GetInt64());

        var page = new HttpRequestMessage(HttpMethod.Get, "/sandbox/storefront/apps/loyalty");
        page.Headers.Add("Cookie", $"{SandboxPages.CustomerCookie}=1003");
        var html = await _app.Http.SendAsync(page);
        Assert.Equal("text/html", html.Content.Headers.ContentType!.MediaType);
        var body = await html.Content.ReadAsStringAsync();
        Assert.Contains("SANDBOX storefront emulator", body);
        Assert.Contains("id=\"loyalty-my-page\"", body);
    }

    [Fact]
    public async Task The_order_button_sends_a_signed_webhook_that_awards_points()
    {
        var sent = await _app.Http.PostAsJsonAsync("/sandbox/orders", new { customerId = 1002, amount = 40.5 });

        Assert.Equal(HttpStatusCode.OK, sent.StatusCode);
        Assert.Equal(200, (await sent.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("webhookStatus").GetInt32());
        await LoyaltyApp.WaitUntilAsync(async () => await _app.BalanceAsync("demo-shop.myshopify.com", 1002) == 340, "the order's points");
    }

    [Theory]
    [InlineData("""{"target":"mainframe"}""", "invalid_target")]
    [InlineData("""{"target":"pos","rate":1.5}""", "invalid_rate")]
    [InlineData("""{"target":"pos","next":"Explode"}""", "invalid_fault")]
    [InlineData("""{"target":"pos","next":"Slow","only":"refunds"}""", "invalid_fault")]
    [InlineData("""{"target":"shopify","slowDelayMs":100}""", "invalid_fault")]
    public async Task Bad_fault_settings_are_refused_with_a_code(string body, string code)
    {
        var response = await _app.Http.PostAsync("/sandbox/faults", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

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
        var before = await _app.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries");
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");

        var response = await _app.Http.SendAsync(request);

        Assert.InRange((int)response.StatusCode, 400, 499);
        Assert.Equal(before, await _app.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries"));
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task Faults_set_on_demand_reach_the_simulator()
    {
        var response = await _app.Http.PostAsJsonAsync("/sandbox/faults", new { target = "pos", rate = 0.2, latencyMs = 40 });
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        var state = await _app.Http.GetFromJsonAsync<JsonElement>("/sandbox/state");
        Assert.Equal(0.2, state.GetProperty("pos").GetProperty("rate").GetDouble());
        Assert.Equal(40, state.GetProperty("pos").GetProperty("latencyMs").GetInt32());
    }
}
