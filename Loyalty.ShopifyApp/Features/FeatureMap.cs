using Loyalty.ShopifyApp.Features.Admin;
using Loyalty.ShopifyApp.Features.Compliance;
using Loyalty.ShopifyApp.Features.Health;
using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Features.Storefront;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features;

public static class FeatureMap
{
    /// <summary>Services of every feature: webhook topic handlers, background workers, feature services.</summary>
    public static IHostApplicationBuilder AddFeatures(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section)
            .Validate(o => o.MaxBodyBytes > 0 && o.MaxAttempts > 0 && o.LeaseSeconds > 0 && o.BatchSize > 0 && o.PollIntervalMs > 0,
                "Webhooks: MaxBodyBytes, MaxAttempts, LeaseSeconds, BatchSize and PollIntervalMs must be positive.")
            .ValidateOnStart();
        services.AddSingleton<WebhookSignal>();
        services.AddSingleton<WebhookProcessor>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookProcessor>());

        services.AddSingleton<ShopInstallation>();
        services.AddSingleton<IWebhookHandler, AppUninstalled>();
        services.AddSingleton<IWebhookHandler, CustomerDataRequested>();
        services.AddSingleton<IWebhookHandler, CustomerRedacted>();
        services.AddSingleton<IWebhookHandler, ShopRedacted>();
        return builder;
    }

    public static WebApplication MapFeatures(this WebApplication app)
    {
        app.MapHealth();
        app.MapAuthorizationCodeGrant();
        app.MapWebhookIntake();
        app.MapStorefrontApi();

        app.MapAdminApi()
            .MapShopStatus()
            .MapWebhookDeliveries()
            .MapDataRequests();
        return app;
    }
}
