using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Expiry;

public static class ExpiryFeature
{
    /// <summary>
    /// Points that expire: a recurring job (hourly) and every read or spend of a customer's points expire what is due; another tells the
    /// shop of points expiring soon.
    /// </summary>
    public static IServiceCollection AddExpiry(this IServiceCollection services)
    {
        services.AddValidatedOptions<ExpiryOptions, ExpiryOptionsValidator>(ExpiryOptions.Section);
        services.AddTransient<PointsExpiry>();
        services.AddRecurringJob<PointsExpiry>(PointsExpiry.RecurringId, "23 * * * *", j => j.ExpireDueAsync(CancellationToken.None));
        services.AddTransient<ExpiryNotices>();
        services.AddRecurringJob<ExpiryNotices>(ExpiryNotices.RecurringId, "41 * * * *", j => j.NoticeDueAsync(CancellationToken.None));
        return services;
    }
}
