namespace Loyalty.ShopifyApp.Features.Campaigns;

public static class CampaignsFeature
{
    /// <summary>Merchant coupon campaigns: their codes are created in Shopify by <see cref="CampaignGeneration"/>.</summary>
    public static IServiceCollection AddCampaigns(this IServiceCollection services)
    {
        services.AddOptions<CampaignOptions>().BindConfiguration(CampaignOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CampaignOptions>, CampaignOptionsValidator>();
        services.AddTransient<CampaignGeneration>();
        return services;
    }
}
