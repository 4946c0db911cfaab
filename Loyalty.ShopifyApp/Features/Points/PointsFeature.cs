using Loyalty.ShopifyApp.Features.Webhooks;
using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Points;

public static class PointsFeature
{
    /// <summary>Earning from orders: the order webhooks, and the sweep that awards orders whose webhook never came.</summary>
    public static IServiceCollection AddPoints(this IServiceCollection services)
    {
        services.AddValidatedOptions<OrderSweepOptions, OrderSweepOptionsValidator>(OrderSweepOptions.Section);
        services.AddSingleton<IWebhookHandler, OrderPaid>();
        services.AddSingleton<IWebhookHandler, RefundCreated>();
        services.AddSingleton<IWebhookHandler, OrderCancelled>();
        services.AddTransient<MissedOrderSweep>();
        services.AddRecurringJob<MissedOrderSweep>(MissedOrderSweep.RecurringId, "*/15 * * * *", j => j.SweepAllAsync(CancellationToken.None));
        services.AddFanOutSpread(MissedOrderSweep.RecurringId, "OrderSweep:SpreadSeconds",
            sp => TimeSpan.FromSeconds(sp.GetRequiredService<IOptions<OrderSweepOptions>>().Value.SpreadSeconds));
        return services;
    }
}
