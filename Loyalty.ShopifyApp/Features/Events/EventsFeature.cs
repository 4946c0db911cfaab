using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Events;

public static class EventsFeature
{
    /// <summary>
    /// Events for the merchant's other systems, delivered on a schedule through a client that reaches only public addresses
    /// (<see cref="NetworkGuard"/>, its deny-list bound with the POS client) and reads a bounded answer.
    /// </summary>
    public static IServiceCollection AddEvents(this IServiceCollection services)
    {
        services.AddValidatedOptions<EventOptions, EventOptionsValidator>(EventOptions.Section);
        services.AddHttpClient(OutgoingEvents.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => NetworkGuard.CreateHandler(
                sp.GetRequiredService<IOptions<EventOptions>>().Value.AllowInsecureEndpoints,
                sp.GetRequiredService<IOptions<NetworkGuardOptions>>().Value,
                sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(NetworkGuard))))
            .AddHttpMessageHandler(sp => new ResponseSizeLimitHandler(sp.GetRequiredService<IOptions<EventOptions>>().Value.MaxResponseBytes));
        services.AddTransient<OutgoingEvents>();
        services.AddRecurringJob<OutgoingEvents>(OutgoingEvents.RecurringId, "* * * * *", j => j.DeliverDueAsync(CancellationToken.None));
        return services;
    }
}
