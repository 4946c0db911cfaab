using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Pending;

public static class PendingFeature
{
    /// <summary>Pending points: an order's points wait out the shop's pending period, then a recurring job releases them.</summary>
    public static IServiceCollection AddPending(this IServiceCollection services)
    {
        services.AddValidatedOptions<PendingOptions, PendingOptionsValidator>(PendingOptions.Section);
        services.AddValidatedOptions<ProgramClockOptions, ProgramClockOptionsValidator>(ProgramClockOptions.Section);
        services.AddSingleton<ProgramClock>();
        services.AddTransient<PendingRelease>();
        services.AddRecurringJob<PendingRelease>(PendingRelease.RecurringId, "*/5 * * * *", j => j.ReleaseDueAsync(CancellationToken.None));
        return services;
    }
}
