using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Tiers;

public static class TiersFeature
{
    /// <summary>VIP tiers: evaluated with each award, refund and release, and reviewed daily.</summary>
    public static IServiceCollection AddTiers(this IServiceCollection services)
    {
        services.AddTransient<TierReview>();
        services.AddRecurringJob<TierReview>(TierReview.RecurringId, "37 3 * * *", j => j.ReviewAsync(CancellationToken.None));
        return services;
    }
}
