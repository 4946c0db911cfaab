using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>Section <c>Tiers</c>: how tier tags reach Shopify (<see cref="CustomerTags"/>).</summary>
public sealed class TierOptions
{
    public const string Section = "Tiers";

    /// <summary>Customers' tag changes applied per claim, each customer's oldest first.</summary>
    [SettingRange(1, 1000, ErrorMessage = "Tiers:TagBatchSize must be 1-1000.")]
    public int TagBatchSize { get; set; } = 50;

    /// <summary>Tries of one change before it is given up as failed (Shopify out of reach, throttled, or erring).</summary>
    [SettingRange(1, 100, ErrorMessage = "Tiers:TagMaxAttempts must be 1-100.")]
    public int TagMaxAttempts { get; set; } = 10;

    /// <summary>The wait after a failed try, doubled at each one up to an hour.</summary>
    [SettingRange(1, 3600, ErrorMessage = "Tiers:TagRetryBaseDelaySeconds must be 1-3600.")]
    public int TagRetryBaseDelaySeconds { get; set; } = 30;

    /// <summary>A claimed change is another run's after this, should its sender die (two Shopify calls of at most a minute each).</summary>
    [SettingRange(60, 3600, ErrorMessage = "Tiers:TagLeaseSeconds must be 60-3600.")]
    public int TagLeaseSeconds { get; set; } = 300;
}

[OptionsValidator]
public sealed partial class TierOptionsValidator : IValidateOptions<TierOptions>;
