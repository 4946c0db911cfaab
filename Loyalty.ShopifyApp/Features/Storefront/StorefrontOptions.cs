namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary>
/// Section <c>Storefront</c>: how much the storefront (everything under <c>/proxy</c>) may ask of this instance, and how
/// long a customer's request waits for the shop's Shopify budget. Limits count requests per fixed window, per instance.
/// </summary>
public sealed class StorefrontOptions
{
    public const string Section = "Storefront";

    /// <summary>The window every limit below counts in.</summary>
    public double WindowSeconds { get; set; } = 60;

    /// <summary>Requests one logged-in customer of a shop may make per window (My Page polls a settling conversion every 1.5 s).</summary>
    public int CustomerRequestLimit { get; set; } = 120;

    /// <summary>Coupon code checks one customer may make per window: each may cost a Shopify call from the shop's budget.</summary>
    public int CustomerCodeCheckLimit { get; set; } = 20;

    /// <summary>
    /// Requests all visitors of one shop together may make per window (100 a second by default): a cap on what one shop's
    /// storefront, or someone with many customer accounts, can make this instance do. Busy shops may need more.
    /// </summary>
    public int ShopRequestLimit { get; set; } = 6000;

    /// <summary>
    /// The longest a storefront request waits for the shop's Shopify cost bucket before it answers 503 <c>shopify_busy</c>
    /// (conversions and coupon cancellations use <c>Conversion:RequestShopifyWaitSeconds</c> and answer 202 instead).
    /// </summary>
    public double ShopifyWaitSeconds { get; set; } = 3;

    internal const string Rule = "Storefront: WindowSeconds must be 1-3600, CustomerRequestLimit, CustomerCodeCheckLimit and ShopRequestLimit "
                                 + "1-10,000,000, and ShopifyWaitSeconds 0-30.";

    internal bool IsValid() =>
        WindowSeconds is >= 1 and <= 3600
        && CustomerRequestLimit is >= 1 and <= 10_000_000
        && CustomerCodeCheckLimit is >= 1 and <= 10_000_000
        && ShopRequestLimit is >= 1 and <= 10_000_000
        && ShopifyWaitSeconds is >= 0 and <= 30;
}
