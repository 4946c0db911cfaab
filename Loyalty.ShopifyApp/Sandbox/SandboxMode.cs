using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Events;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// With no Shopify credentials, in Development only, the app is a self-contained sandbox: simulators of Shopify
/// and of the POS run on localhost, every Shopify and POS call goes to them, and a demo shop is installed
/// through the real token-exchange path with demo customers holding starting balances. In any other case none
/// of this runs.
/// </summary>
public static class SandboxMode
{
    public const string ClientId = "sandbox-client-id";
    public const string ClientSecret = "sandbox-client-secret-not-valid-on-any-real-shop";

    public static bool IsOn(IConfiguration configuration, IHostEnvironment environment) =>
        environment.IsDevelopment()
        && string.IsNullOrWhiteSpace(configuration["Shopify:ApiKey"]) && string.IsNullOrWhiteSpace(configuration["SHOPIFY_API_KEY"])
        && string.IsNullOrWhiteSpace(configuration["Shopify:ApiSecret"]) && string.IsNullOrWhiteSpace(configuration["SHOPIFY_API_SECRET"]);

    public static IHostApplicationBuilder AddSandbox(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<SandboxOptions>().BindConfiguration("Sandbox");
        // After AddShopify(): the Shopify CLI's variables are read first, the placeholders fill in what is still empty.
        builder.Services.AddSingleton<IPostConfigureOptions<ShopifyOptions>, SandboxCredentials>();
        builder.Services.AddSingleton<IValidateOptions<ShopifyOptions>, SandboxGuard>();
        builder.Services.AddSingleton<IValidateOptions<PosClientOptions>, DevelopmentOnlySettings>();
        builder.Services.AddSingleton<IValidateOptions<EventOptions>, DevelopmentOnlySettings>();
        builder.Services.AddSingleton<IValidateOptions<SettingsOptions>, DevelopmentOnlySettings>();
        builder.Services.AddSingleton<IValidateOptions<Features.Pending.ProgramClockOptions>, DevelopmentOnlySettings>();
        builder.Services.AddOptions<SettingsOptions>().ValidateOnStart();
        builder.Services.AddSingleton<IPostConfigureOptions<PosClientOptions>, AllowLocal>();
        builder.Services.AddSingleton<IPostConfigureOptions<SettingsOptions>, AllowLocal>();
        builder.Services.AddSingleton<SandboxSimulators>();
        builder.Services.AddHttpClient(SandboxPages.HttpClientName); // the sandbox pages' calls back into this app (storefront, webhooks)
        builder.Services.AddHostedService<SandboxBanner>();
        builder.Services.AddHostedService<SandboxHost>();
        return builder;
    }

    /// <summary>The simulators live on localhost over http: let the POS client and settings accept that, in the sandbox only.</summary>
    private sealed class AllowLocal(IConfiguration configuration, IHostEnvironment environment)
        : IPostConfigureOptions<PosClientOptions>, IPostConfigureOptions<SettingsOptions>
    {
        public void PostConfigure(string? name, PosClientOptions options)
        {
            if (IsOn(configuration, environment)) options.AllowPrivateNetworks = true;
        }

        public void PostConfigure(string? name, SettingsOptions options)
        {
            if (IsOn(configuration, environment)) options.AllowInsecurePosUrls = true;
        }
    }

    /// <summary>
    /// Mints a session token for the demo shop, as App Bridge would hand one to the embedded admin. Only ever with the
    /// sandbox's placeholder secret (<see cref="SandboxGuard"/> refuses to start otherwise; this holds even if it did not).
    /// </summary>
    public static string SessionToken(ShopifyOptions shopify, string shop) =>
        shopify.Sandbox && shopify.ApiSecret == ClientSecret
            ? ShopifyOutbound.SessionToken(shop, shopify.ApiKey, ClientSecret)
            : throw new InvalidOperationException("Sandbox session tokens are minted only in sandbox mode, with the sandbox's placeholder secret.");
}
