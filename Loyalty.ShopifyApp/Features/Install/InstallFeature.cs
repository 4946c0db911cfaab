using Loyalty.ShopifyApp.Features.Webhooks;
using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Install;

public static class InstallFeature
{
    /// <summary>
    /// Installing a shop (<see cref="ShopInstallation"/>), its uninstall webhook, and keeping its expiring token fresh while nobody
    /// calls for it (<see cref="TokenRefresh"/>).
    /// </summary>
    public static IServiceCollection AddInstall(this IServiceCollection services)
    {
        services.AddTransient<ShopInstallation>();
        services.AddSingleton<IWebhookHandler, AppUninstalled>();
        services.AddValidatedOptions<TokenRefreshOptions, TokenRefreshOptionsValidator>(TokenRefreshOptions.Section);
        services.AddSingleton<IValidateOptions<JobsOptions>, TokenRefreshHorizonCheck>();
        services.AddTransient<TokenRefresh>();
        services.AddRecurringJob<TokenRefresh>(TokenRefresh.RecurringId, TokenRefresh.DefaultCron, j => j.RefreshAllAsync(CancellationToken.None));
        services.AddFanOutSpread(TokenRefresh.RecurringId, "TokenRefresh:SpreadSeconds",
            sp => TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<TokenRefreshOptions>>().Value.SpreadSeconds));
        return services;
    }
}
