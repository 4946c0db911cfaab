namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Withdrawing a coupon: compensation (its points could not be deducted, so the coupon is deleted before the
/// conversion fails) and the customer's cancellation of an issued coupon (suspended, checked for use, deleted, and
/// only then its points given back, once).
/// </summary>
public sealed partial class ConversionSaga
{
    private async Task<ConversionRow> CompensateAsync(ConversionRow c, CancellationToken ct)
    {
        if (c.DiscountId is { } discountId)
        {
            try
            {
                c = await RenewLeaseAsync(c, ct);
                await shopify.DeleteAsync(c.ShopDomain, discountId, ct);
            }
            catch (ShopifyUserErrorException e)
            {
                return await ReviewAsync(c, $"Shopify refused to delete the coupon: {e.Message}", ct);
            }
            catch (ShopNotAuthorizedException)
            {
                return await ReviewAsync(c, "The shop's token is gone; the coupon must be deleted in Shopify by hand.", ct);
            }
            catch (Exception e) when (IsShopifyTransient(e))
            {
                return await RetryLaterOrReviewAsync(c, $"deleting the coupon: {e.Message}", ct);
            }
            LogStep(c.Id, "coupon deleted", c.DiscountId);
        }
        return await MoveAsync(c, ConversionStates.Failed, "coupon_status = 'none'", null, ct);
    }

    // ---- cancelling an issued coupon ---------------------------------------------------------------

    /// <summary>
    /// The customer cancelled a coupon. The discount is suspended first, so no checkout can use it from then on; then
    /// Shopify is asked whether an order already did (we learn of uses only from orders, which may come late or never),
    /// and a used coupon stays used, its points spent. Otherwise the discount is deleted, then the points are given
    /// back, once. Shopify counts uses asynchronously: an order its count did not show yet is caught when the order is
    /// seen (orders/paid or the missed-order sweep) and goes to the merchant as an incident.
    /// </summary>
    private async Task<ConversionRow> CancelCouponAsync(ConversionRow c, TimeSpan? shopifyWait, CancellationToken ct)
    {
        try
        {
            if (c.DiscountId is { } suspend)
            {
                c = await RenewLeaseAsync(c, ct);
                await shopify.DeactivateAsync(c.ShopDomain, suspend, shopifyWait, goneIsDone: true, ct);
            }
            c = await RenewLeaseAsync(c, ct);
            var found = await shopify.FindByCodeAsync(c.ShopDomain, c.Code, shopifyWait, ct);
            if (c.UsedOrderId is not null || found is { UsageCount: > 0 } && (found.Id == c.DiscountId || IsOurs(found, c)))
            {
                LogStep(c.Id, "cancellation refused: the coupon was used", $"order {c.UsedOrderId}, {found?.UsageCount} use(s) in Shopify");
                return await UpdateCouponAsync(c, "coupon_status = 'used', used_at = coalesce(used_at, now()), metafield_synced_at = NULL", ct);
            }
            c = await RenewLeaseAsync(c, ct);
            if (c.DiscountId is not null) await shopify.DeleteAsync(c.ShopDomain, c.DiscountId, shopifyWait, ct);
        }
        catch (Exception e) when (IsShopifyTransient(e) || e is ShopNotAuthorizedException or ShopifyUserErrorException)
        {
            LogStep(c.Id, "cancellation waits for Shopify", e.Message);
            await TryAgainLaterAsync(c, e, countMetafieldFailure: false, ct);
            return c;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, tx, c.ShopDomain, ct);
        await Ledger.PostAsync(conn, tx, new PointsEntry(c.ShopDomain, c.CustomerId, c.Points, "conversion_reversal", $"{c.Id}:reversal",
            $"Coupon {c.Code} cancelled", "customer", c.CustomerId.ToString()),
            new Posting(QueueForPos: settings.PosMode && c.BalanceSource == BalanceSources.Pos), ct);
        var done = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
            UPDATE conversions SET coupon_status = 'cancelled', cancelled_at = now(), metafield_synced_at = NULL, updated_at = now()
            WHERE id = @Id AND coupon_status = 'cancelling' AND lease_token = @LeaseToken
            RETURNING {ConversionRow.Columns}
            """, c, tx, cancellationToken: ct)) ?? throw new LeaseLostException(c.Id); // the points given back are rolled back
        await tx.CommitAsync(ct);
        LogStep(c.Id, "coupon cancelled, points given back", c.Code);
        return done;
    }

    /// <summary>Changes a cancelling coupon's status while this driver holds the lease.</summary>
    private async Task<ConversionRow> UpdateCouponAsync(ConversionRow c, string set, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
            UPDATE conversions SET updated_at = now(), {set}
            WHERE id = @Id AND coupon_status = 'cancelling' AND lease_token = @LeaseToken
            RETURNING {ConversionRow.Columns}
            """, c, cancellationToken: ct)) ?? throw new LeaseLostException(c.Id);
    }
}
