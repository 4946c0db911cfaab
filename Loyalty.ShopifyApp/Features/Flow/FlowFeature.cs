using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Flow;

public static class FlowFeature
{
    /// <summary>Shopify Flow triggers: queued with the facts they report, sent every 30 seconds to the shops whose workflows use them.</summary>
    public static IServiceCollection AddFlow(this IServiceCollection services)
    {
        services.AddValidatedOptions<FlowOptions, FlowOptionsValidator>(FlowOptions.Section);
        services.AddSingleton<IValidateOptions<FlowOptions>, FlowLeaseCheck>();
        services.AddTransient<FlowDelivery>();
        services.AddRecurringJob<FlowDelivery>(FlowDelivery.RecurringId, "*/30 * * * * *", j => j.DeliverDueAsync(CancellationToken.None));
        return services;
    }
}
