namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Where a conversion's saga stands (<c>conversions.state</c>; the schema's check constraint lists the same values).
/// Every step is one of these, persisted, and every transition is guarded by the state it leaves.
/// </summary>
public static class ConversionStates
{
    /// <summary>Recorded and checked; its coupon is not known to be in Shopify yet.</summary>
    public const string Pending = "pending";

    /// <summary>The coupon exists in Shopify; its points are not deducted yet.</summary>
    public const string CouponCreated = "coupon_created";

    /// <summary>A POS deduction whose outcome is unknown, settled by its reference once no request can still apply it.</summary>
    public const string Settling = "settling";

    /// <summary>The points could not be deducted: the coupon is deleted before the conversion fails.</summary>
    public const string Compensating = "compensating";

    /// <summary>Points deducted exactly once, coupon issued; the coupon's own life is its <see cref="CouponStatuses">status</see>.</summary>
    public const string Completed = "completed";

    /// <summary>Nothing deducted, no coupon left usable.</summary>
    public const string Failed = "failed";

    /// <summary>The reconciler could not settle it; the merchant retries or cancels it (<c>review_from</c> names the step).</summary>
    public const string NeedsReview = "needs_review";

    public static readonly IReadOnlyList<string> All = [Pending, CouponCreated, Settling, Compensating, Completed, Failed, NeedsReview];
}
