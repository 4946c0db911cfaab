using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features.Compliance;

public static class ComplianceFeature
{
    /// <summary>Shopify's mandatory compliance webhooks: a customer's data request, a customer's and a shop's redaction.</summary>
    public static IServiceCollection AddCompliance(this IServiceCollection services)
    {
        services.AddSingleton<IWebhookHandler, CustomerDataRequested>();
        services.AddSingleton<IWebhookHandler, CustomerRedacted>();
        services.AddSingleton<IWebhookHandler, ShopRedacted>();
        return services;
    }
}
