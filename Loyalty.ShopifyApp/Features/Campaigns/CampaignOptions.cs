using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>Section <c>Campaigns</c>.</summary>
public sealed class CampaignOptions
{
    public const string Section = "Campaigns";

    /// <summary>Wait between polls of a bulk code creation that is not done yet.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Campaigns:BulkPollIntervalMs must be 0 or more (milliseconds).")]
    public int BulkPollIntervalMs { get; set; } = 1000;

    /// <summary>Polls of one bulk creation before the job gives up (it resumes from there on its next run).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Campaigns:BulkMaxPolls must be positive.")]
    public int BulkMaxPolls { get; set; } = 300;

    /// <summary>How long a merchant's request waits for Shopify's cost bucket before a single code goes to the background job.</summary>
    [SettingRange(0d, 30d, ErrorMessage = "Campaigns:RequestShopifyWaitSeconds must be 0-30.")]
    public double RequestShopifyWaitSeconds { get; set; } = 3;

    /// <summary>Delay before the background job retries a single code Shopify could not be reached for.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Campaigns:ResumeDelaySeconds must be 0 or more.")]
    public int ResumeDelaySeconds { get; set; } = 10;
}

[OptionsValidator]
public sealed partial class CampaignOptionsValidator : IValidateOptions<CampaignOptions>;
