namespace Loyalty.ShopifyApp.Features.Webhooks;

public static class WebhooksFeature
{
    /// <summary>
    /// The intake (<see cref="WebhookInbox"/> stores acknowledged deliveries) and the worker that hands them to the topic
    /// handlers (<see cref="WebhookProcessor"/>). The handlers are registered by the features that own their topics.
    /// </summary>
    public static IServiceCollection AddWebhooks(this IServiceCollection services)
    {
        services.AddValidatedOptions<WebhookOptions, WebhookOptionsValidator>(WebhookOptions.Section);
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookPoolRule>();
        services.AddSingleton<WebhookSignal>();
        services.AddSingleton<InstalledShops>();
        services.AddSingleton<WebhookInbox>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookInbox>());
        services.AddSingleton<WebhookProcessor>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookProcessor>());
        return services;
    }
}
