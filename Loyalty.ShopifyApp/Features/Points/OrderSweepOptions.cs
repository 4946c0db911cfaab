using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>Section <c>OrderSweep</c>: the <see cref="MissedOrderSweep"/>.</summary>
public sealed class OrderSweepOptions
{
    public const string Section = "OrderSweep";

    /// <summary>Each sweep looks this far behind the previous one, for orders updated while it ran.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "OrderSweep:OverlapMinutes must be 0 or more.")]
    public int OverlapMinutes { get; set; } = 10;

    /// <summary>Orders asked of Shopify per page (its GraphQL API returns at most 250).</summary>
    [SettingRange(1, 250, ErrorMessage = "OrderSweep:PageSize must be 1-250.")]
    public int PageSize { get; set; } = 100;

    /// <summary>Safety stop for one shop's sweep; the next run goes on from the last order read (never past it).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "OrderSweep:MaxPages must be positive.")]
    public int MaxPages { get; set; } = 200;
}

[OptionsValidator]
public sealed partial class OrderSweepOptionsValidator : IValidateOptions<OrderSweepOptions>;
