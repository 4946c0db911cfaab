namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>Section <c>Campaigns</c>.</summary>
public sealed class CampaignOptions
{
    /// <summary>Wait between polls of a bulk code creation that is not done yet.</summary>
    public int BulkPollIntervalMs { get; set; } = 1000;

    /// <summary>Polls of one bulk creation before the job gives up (it resumes from there on its next run).</summary>
    public int BulkMaxPolls { get; set; } = 300;

    /// <summary>How long a merchant's request waits for Shopify's cost bucket before a single code goes to the background job.</summary>
    public double RequestShopifyWaitSeconds { get; set; } = 3;

    /// <summary>Delay before the background job retries a single code Shopify could not be reached for.</summary>
    public int ResumeDelaySeconds { get; set; } = 10;
}
