namespace Loyalty.Tests.Sandbox;

/// <summary>With no credentials in Development, the app runs against its own simulators with an installed demo shop.</summary>
public sealed class SandboxModeTests
{
    [Fact]
    public async Task Without_credentials_in_Development_a_demo_shop_is_installed_against_local_simulators_and_works()
    {
        using var unused = new ShopifyFake();
        await using var app = await LoyaltyApp.StartSandboxAsync(unused);
        const string shop = "demo-shop.myshopify.com";

        Assert.Equal("installed", await app.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.Equal("token_exchange", await app.ScalarAsync<string>("SELECT obtained_via FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(1500, await app.BalanceAsync(shop, 1001));
        Assert.Empty(unused.Server.LogEntries); // nothing went anywhere but the simulators

        // A demo customer converts points: the coupon is created in the Shopify simulator.
        var request = new HttpRequestMessage(HttpMethod.Post, ProxyPath("/proxy/api/conversions", shop, 1001))
        {
            Content = new StringContent(JsonSerializer.Serialize(new { points = 500 }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", "sandbox-1");
        var response = await app.ConversionSettledAsync(await app.Http.SendAsync(request));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(1000, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("balance").GetInt64());
    }

    [Theory]
    [InlineData("Production")]
    [InlineData("Staging")]
    [InlineData("Testing")]
    public async Task Sandbox_switched_on_by_configuration_outside_Development_refuses_to_start(string environment)
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => LoyaltyApp.StartAsync(shopify, SimulatorPorts(new()
        {
            ["Shopify:Sandbox"] = "true",
        }), environment: environment));

        Assert.Contains($"Shopify:Sandbox is on in the {environment} environment", error.ToString());
        Assert.Empty(shopify.Server.LogEntries); // no demo shop was installed with the real credentials
    }

    [Theory]
    [InlineData("Pos:AllowPrivateNetworks", "Production")]
    [InlineData("Events:AllowInsecureEndpoints", "Production")]
    [InlineData("Settings:AllowInsecurePosUrls", "Production")]
    [InlineData("Pos:AllowPrivateNetworks", "Testing")]
    [InlineData("Events:AllowInsecureEndpoints", "Staging")]
    public async Task Settings_that_lift_the_outbound_guard_refuse_to_start_outside_Development(string setting, string environment)
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { [setting] = "true" }, environment: environment));

        Assert.Contains($"{setting} is on in the {environment} environment", error.ToString());
    }

    [Fact]
    public async Task A_program_clock_ahead_of_the_real_one_refuses_to_start_outside_Development()
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["ProgramClock:OffsetDays"] = "30" }, environment: "Production"));

        Assert.Contains("ProgramClock:OffsetDays is 30 in the Production environment", error.ToString());
    }

    [Theory]
    [InlineData("Shopify:ApiSecret", LoyaltyApp.Secret)]
    [InlineData("Shopify:ApiKey", LoyaltyApp.ApiKey)]
    [InlineData("SHOPIFY_API_SECRET", LoyaltyApp.Secret)]
    [InlineData("Shopify:PreviousApiSecret", LoyaltyApp.Secret)]
    public async Task Sandbox_in_Development_refuses_to_start_with_credentials_that_are_not_its_own(string setting, string value)
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => LoyaltyApp.StartSandboxAsync(shopify, new Dictionary<string, string?>
        {
            ["Shopify:Sandbox"] = "true",
            [setting] = value,
        }));

        Assert.Contains("runs only with its own placeholder credentials", error.ToString());
        Assert.Empty(shopify.Server.LogEntries);
    }

    private static Dictionary<string, string?> SimulatorPorts(Dictionary<string, string?> settings)
    {
        settings["Sandbox:ShopifyPort"] = Loyalty.ShopifyApp.Sandbox.LocalPostgres.FreePort().ToString();
        settings["Sandbox:PosPort"] = Loyalty.ShopifyApp.Sandbox.LocalPostgres.FreePort().ToString();
        return settings;
    }

    /// <summary>Signed with the sandbox secret, as the storefront emulator does.</summary>
    private static string ProxyPath(string path, string shop, long customer) =>
        path + "?" + Loyalty.Sandbox.ShopifyOutbound.AppProxyQuery(shop, customer, Loyalty.ShopifyApp.Sandbox.SandboxMode.ClientSecret);
}
