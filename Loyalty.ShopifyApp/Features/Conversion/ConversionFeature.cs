using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Conversion;

public static class ConversionFeature
{
    /// <summary>
    /// Points to coupons: the saga a request drives, the reconciler that finishes what a request left (woken by
    /// <see cref="ConversionTrigger"/>, and on a schedule), and the sweep that deletes discounts in Shopify no completed conversion owns.
    /// </summary>
    public static IServiceCollection AddConversion(this IServiceCollection services)
    {
        services.AddValidatedOptions<ConversionOptions, ConversionOptionsValidator>(ConversionOptions.Section);
        services.AddSingleton<ConversionTrigger>();
        services.AddSingleton<ConversionDrives>();
        services.AddHostedService(sp => sp.GetRequiredService<ConversionDrives>());
        services.AddTransient<ShopifyDiscounts>();
        services.AddTransient<ConversionSaga>();
        services.AddTransient<ConversionReconciler>();
        services.AddRecurringJob<ConversionReconciler>(ConversionReconciler.RecurringId, "* * * * *", j => j.RunAsync(CancellationToken.None));
        services.AddTransient<OrphanCouponSweep>();
        services.AddRecurringJob<OrphanCouponSweep>(OrphanCouponSweep.RecurringId, "17 * * * *", j => j.SweepAllAsync(CancellationToken.None));
        services.AddFanOutSpread(OrphanCouponSweep.RecurringId, "Conversion:OrphanSweepSpreadSeconds",
            sp => TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<ConversionOptions>>().Value.OrphanSweepSpreadSeconds));
        return services;
    }
}
