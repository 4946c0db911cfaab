using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.Extensions.Options;

namespace Loyalty.Tests.Infrastructure.Shopify;

/// <summary>Settings are validated at start-up, with a sentence naming what is missing.</summary>
public sealed class ConfigurationTests
{
    [Fact]
    public async Task A_missing_client_secret_stops_start_up_naming_the_setting()
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["Shopify:ApiSecret"] = "" }));

        var message = error is OptionsValidationException o ? string.Join(" ", o.Failures) : error.ToString();
        Assert.Contains("Shopify:ApiSecret is missing: set SHOPIFY_API_SECRET", message);
    }

    [Fact]
    public async Task A_client_secret_too_short_for_HS256_is_refused_at_start_up()
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["Shopify:ApiSecret"] = "hush" }));

        Assert.Contains("shorter than 32 bytes", error.ToString());
    }

    [Fact]
    public async Task The_variables_Shopify_CLI_sets_configure_the_app()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Shopify:ApiKey"] = "",
            ["Shopify:ApiSecret"] = "",
            ["Shopify:AppUrl"] = "",
            ["SHOPIFY_API_KEY"] = "cli-client-id",
            ["SHOPIFY_API_SECRET"] = "cli-secret-0123456789abcdef0123456789",
            ["HOST"] = "tunnel.example.com",
        });

        var options = app.Services.GetRequiredService<IOptions<ShopifyOptions>>().Value;

        Assert.Equal(("cli-client-id", "cli-secret-0123456789abcdef0123456789", "https://tunnel.example.com"),
            (options.ApiKey, options.ApiSecret, options.AppUrl));
        Assert.False(options.Sandbox);
    }

    [Fact]
    public async Task Every_signed_entry_point_accepts_the_previous_secret_during_a_rotation()
    {
        using var shopify = new ShopifyFake();
        const string previous = "shpss_previous_secret_0123456789abcdef01";
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["Shopify:PreviousApiSecret"] = previous },
            RecordingHandler.Register);
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);

        var webhook = await app.PostWebhookAsync("test/effect", shop, """{"id":1}""", secret: previous);
        var proxy = await app.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/session", shop, 1, secret: previous));
        var admin = await app.Http.SendAsync(LoyaltyApp.AdminWithToken(HttpMethod.Get, "/api/admin/shop",
            SessionTokenMinter.Mint(previous, LoyaltyApp.ApiKey, shop)));

        Assert.Equal((System.Net.HttpStatusCode.OK, System.Net.HttpStatusCode.OK, System.Net.HttpStatusCode.OK),
            (webhook.StatusCode, proxy.StatusCode, admin.StatusCode));
    }
}
