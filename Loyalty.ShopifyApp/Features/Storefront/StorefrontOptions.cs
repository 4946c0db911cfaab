using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary>
/// Section <c>Storefront</c>: how much the storefront (everything under <c>/proxy</c>) may ask of this instance, and how
/// long a customer's request waits for the shop's Shopify budget. Limits count requests per fixed window, per instance.
/// </summary>
public sealed class StorefrontOptions
{
    public const string Section = "Storefront";

    /// <summary>The window every limit below counts in.</summary>
    [SettingRange(1d, 3600d, ErrorMessage = "Storefront:WindowSeconds must be 1-3600.")]
    public double WindowSeconds { get; set; } = 60;

    /// <summary>Requests one logged-in customer of a shop may make per window (My Page polls a settling conversion every 1.5 s).</summary>
    [SettingRange(1, 10_000_000, ErrorMessage = "Storefront:CustomerRequestLimit must be 1-10,000,000.")]
    public int CustomerRequestLimit { get; set; } = 120;

    /// <summary>Coupon code checks one customer may make per window: each may cost a Shopify call from the shop's budget.</summary>
    [SettingRange(1, 10_000_000, ErrorMessage = "Storefront:CustomerCodeCheckLimit must be 1-10,000,000.")]
    public int CustomerCodeCheckLimit { get; set; } = 20;

    /// <summary>
    /// Requests all visitors of one shop together may make per window (100 a second by default): a cap on what one shop's
    /// storefront, or someone with many customer accounts, can make this instance do. Busy shops may need more.
    /// </summary>
    [SettingRange(1, 10_000_000, ErrorMessage = "Storefront:ShopRequestLimit must be 1-10,000,000.")]
    public int ShopRequestLimit { get; set; } = 6000;

    /// <summary>
    /// The longest a storefront request waits for the shop's Shopify cost bucket before it answers 503 <c>shopify_busy</c>
    /// (conversions and coupon cancellations use <c>Conversion:RequestShopifyWaitSeconds</c> and answer 202 instead).
    /// </summary>
    [SettingRange(0d, 30d, ErrorMessage = "Storefront:ShopifyWaitSeconds must be 0-30.")]
    public double ShopifyWaitSeconds { get; set; } = 3;
}

[OptionsValidator]
public sealed partial class StorefrontOptionsValidator : IValidateOptions<StorefrontOptions>;
