namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The life of a conversion's coupon once issued (<c>conversions.coupon_status</c>; the schema's check constraint lists
/// the stored values), and what the customer is shown (<see cref="ConversionRow.CouponView"/>).
/// </summary>
public static class CouponStatuses
{
    /// <summary>No coupon issued (the conversion is not completed, or failed).</summary>
    public const string None = "none";

    public const string Active = "active";

    /// <summary>An order used it; its points stay spent.</summary>
    public const string Used = "used";

    /// <summary>The customer cancelled it: the discount is suspended and deleted first, then the points given back.</summary>
    public const string Cancelling = "cancelling";

    public const string Cancelled = "cancelled";

    /// <summary>Shown for an active coupon past its end; never stored.</summary>
    public const string Expired = "expired";
}
