using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Tiers;

public static class TiersFeature
{
    /// <summary>VIP tiers: evaluated with each award, refund and release, reviewed daily; their tags follow members in Shopify, and a
    /// segment per tier limits campaigns to it.</summary>
    public static IServiceCollection AddTiers(this IServiceCollection services)
    {
        services.AddValidatedOptions<TierOptions, TierOptionsValidator>(TierOptions.Section);
        services.AddTransient<TierReview>();
        services.AddTransient<CustomerTags>();
        services.AddTransient<TierSegments>();
        services.AddRecurringJob<TierSegments>(TierSegments.RecurringId, "* * * * *", j => j.SyncDueAsync(CancellationToken.None));
        services.AddRecurringJob<CustomerTags>(CustomerTags.RecurringId, "* * * * *", j => j.ApplyDueAsync(CancellationToken.None));
        services.AddRecurringJob<TierReview>(TierReview.RecurringId, "37 3 * * *", j => j.ReviewAsync(CancellationToken.None));
        return services;
    }
}
