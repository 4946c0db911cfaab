namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>One row of <c>conversions</c>: a points → coupon conversion, where its saga stands and its coupon's status.</summary>
public sealed record ConversionRow(
    string Id, string ShopDomain, long CustomerId, string IdempotencyKey, long Points, decimal Amount, string Currency,
    string BalanceSource, string State, string Code, string? DiscountId, DateTimeOffset ExpiresAt, string? FailureCode,
    string? FailureReason, int Attempts, DateTimeOffset? DeductAttemptedAt, DateTimeOffset? MetafieldSyncedAt, string CouponStatus,
    DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt, long? UsedOrderId, DateTimeOffset? UsedAt, DateTimeOffset? CouponRequestedAt,
    long? BalanceAfter, Guid? LeaseToken, int MetafieldFailures)
{
    public const string Columns = """
        id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code, discount_id, expires_at,
        failure_code, failure_reason, attempts, deduct_attempted_at, metafield_synced_at, coupon_status, created_at, completed_at,
        used_order_id, used_at, coupon_requested_at, balance_after, lease_token, metafield_failures
        """;

    /// <summary>
    /// When this driver last renewed the lease (a <see cref="System.Diagnostics.Stopwatch"/> timestamp taken before the renewal
    /// was sent, so never later than the database's); 0 when this row did not come from a renewal.
    /// </summary>
    public long LeaseRenewedAt { get; init; }

    /// <summary>This driver's last write released the lease (never read from the database).</summary>
    public bool LeaseReleased { get; init; }

    /// <summary>
    /// This driver recorded the coupon and <c>deduct_attempted_at</c> in one write, right before the POS deduction it sends next, so
    /// the deduction need not be marked again (never read from the database).
    /// </summary>
    public bool DeductMarked { get; init; }

    /// <summary>What the customer sees: active, used, expired or cancelled.</summary>
    public string CouponView(DateTimeOffset now) => CouponStatus switch
    {
        CouponStatuses.Active when ExpiresAt <= now => CouponStatuses.Expired,
        CouponStatuses.Cancelling => CouponStatuses.Cancelled,
        _ => CouponStatus,
    };

    public bool InFlight =>
        State is ConversionStates.Pending or ConversionStates.CouponCreated or ConversionStates.Settling or ConversionStates.Compensating;
}
