namespace Loyalty.ShopifyApp.Features.Campaigns;

public static class CampaignsFeature
{
    /// <summary>Merchant coupon campaigns: their codes are created in Shopify by <see cref="CampaignGeneration"/>.</summary>
    public static IServiceCollection AddCampaigns(this IServiceCollection services)
    {
        services.AddValidatedOptions<CampaignOptions, CampaignOptionsValidator>(CampaignOptions.Section);
        services.AddTransient<CampaignGeneration>();
        return services;
    }
}
