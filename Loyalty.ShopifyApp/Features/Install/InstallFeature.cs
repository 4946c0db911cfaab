using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features.Install;

public static class InstallFeature
{
    /// <summary>Installing a shop (<see cref="ShopInstallation"/>) and its uninstall webhook.</summary>
    public static IServiceCollection AddInstall(this IServiceCollection services)
    {
        services.AddTransient<ShopInstallation>();
        services.AddSingleton<IWebhookHandler, AppUninstalled>();
        return services;
    }
}
