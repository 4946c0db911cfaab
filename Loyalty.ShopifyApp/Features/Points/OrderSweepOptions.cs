using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>Section <c>OrderSweep</c>: the <see cref="MissedOrderSweep"/>.</summary>
public sealed class OrderSweepOptions
{
    public const string Section = "OrderSweep";

    /// <summary>Each sweep looks this far behind the previous one, for orders updated while it ran.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "OrderSweep:OverlapMinutes must be 0 or more.")]
    public int OverlapMinutes { get; set; } = 10;

    /// <summary>
    /// Orders asked of Shopify per page. Each order costs about 16 points of Shopify's query cost (the order, its customer, seven money
    /// objects and up to five transactions) and a query may cost at most 1,000, so a page holds at most 60.
    /// </summary>
    [SettingRange(1, 60, ErrorMessage = "OrderSweep:PageSize must be 1-60 (Shopify refuses a query that costs more than 1,000 points).")]
    public int PageSize { get; set; } = 50;

    /// <summary>Safety stop for one shop's sweep; the next run goes on from the last order read (never past it).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "OrderSweep:MaxPages must be positive.")]
    public int MaxPages { get; set; } = 200;

    /// <summary>
    /// The recurring run schedules one sweep per installed shop, spread evenly over this many seconds (0: all at once). Keep it
    /// below the run's interval (15 minutes by default, <c>Jobs:Schedules:missed-orders-sweep</c>) so passes do not overlap.
    /// </summary>
    [SettingRange(0, 3600, ErrorMessage = "OrderSweep:SpreadSeconds must be 0-3600.")]
    public int SpreadSeconds { get; set; } = 600;
}

[OptionsValidator]
public sealed partial class OrderSweepOptionsValidator : IValidateOptions<OrderSweepOptions>;
