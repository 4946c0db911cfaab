using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.Donations;

public static class DonationsFeature
{
    /// <summary>Donating points: the settler that settles, by reference, POS donations whose outcome was unknown.</summary>
    public static IServiceCollection AddDonations(this IServiceCollection services)
    {
        services.AddTransient<DonationSettler>();
        services.AddRecurringJob<DonationSettler>(DonationSettler.RecurringId, "* * * * *", j => j.RunAsync(CancellationToken.None));
        return services;
    }
}
