namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Step (2) of the saga: the coupon in Shopify. A send whose answer never came may still be applied, so the code is
/// looked up before anything is sent again, a code taken by an earlier send of ours is adopted, and a conversion is
/// failed only once a lookup is conclusive. Waiting for the shop's API cost bucket leaves the conversion pending.
/// </summary>
public sealed partial class ConversionSaga
{
    /// <param name="deductNext">The coupon's write also marks the POS deduction the drive sends next (<see cref="DeductsAtPosNext"/>).</param>
    private async Task<ConversionRow> CreateCouponAsync(ConversionRow c, TimeSpan? shopifyWait, bool deductNext, CancellationToken ct)
    {
        if (c.CouponRequestedAt is { } requested)
        {
            // A crash, an answer that never came or a driver that lost its lease may have left the code created, or may
            // still create it: look before anything else, and never create it again while a send may be in flight.
            ShopifyDiscounts.FoundCode? found;
            try
            {
                c = await RenewLeaseAsync(c, ct);
                found = await shopify.FindByCodeAsync(c.ShopDomain, c.Code, shopifyWait, ct);
            }
            catch (ShopifyThrottledException e)
            {
                return await DeferAsync(c, e.RetryAfter, clearRequested: false, ct);
            }
            catch (Exception e) when (IsShopifyTransient(e) || e is ShopNotAuthorizedException)
            {
                return await RetryLaterOrReviewAsync(c, $"looking up the code: {e.Message}", ct);
            }
            if (found is not null && IsOurs(found, c)) return await CouponCreatedAsync(c, found.Id, deductNext: false, ct);
            if (found is null)
            {
                // Conclusive only once no send can still be applied: PendingTimeoutSeconds after the last one was sent.
                if (clock.GetUtcNow() - requested <= TimeSpan.FromSeconds(Options.PendingTimeoutSeconds))
                {
                    return await RetryLaterOrReviewAsync(c, "the coupon's creation may still be under way in Shopify", ct);
                }
                return await FailAsync(c, "shopify_unavailable", "Shopify did not create the coupon; no points were deducted.", ct);
            }
            c = await NewCodeAsync(c, ct); // the code belongs to another discount: ours was never created under it
        }
        else if (clock.GetUtcNow() - c.CreatedAt > TimeSpan.FromSeconds(Options.ShopifyQueueTimeoutSeconds))
        {
            return await FailAsync(c, "shopify_unavailable",
                "Shopify's API limit for the shop did not let the coupon through in time; nothing was sent and no points were deducted.", ct);
        }

        for (var attempt = 0; attempt < 5; attempt++)
        {
            try
            {
                // Persisted (and the lease renewed) right before every send, however long the shop's cost bucket kept the
                // call waiting: whoever drives next looks the code up first, counts PendingTimeoutSeconds from the last
                // send, and a driver that lost the lease while waiting never sends.
                var discountId = await shopify.CreateCustomerCodeAsync(c.ShopDomain, new ShopifyDiscounts.CustomerCode(
                    c.Code, Title(c), c.Amount, c.CustomerId, c.CreatedAt, c.ExpiresAt),
                    async token => c = await UpdateAsync(c, "coupon_requested_at = now()", null, token), shopifyWait, ct);
                try
                {
                    return await CouponCreatedAsync(c, discountId, deductNext, ct);
                }
                catch (LeaseLostException)
                {
                    await WithdrawIfOrphanAsync(c, discountId, ct);
                    throw;
                }
            }
            catch (ShopifyThrottledException e)
            {
                // Not applied: the shop's API budget is spent for now (nothing was sent, or Shopify answered THROTTLED),
                // and no earlier send can still apply (a lookup above said so), so the next drive need not look it up.
                return await DeferAsync(c, e.RetryAfter, clearRequested: true, ct);
            }
            catch (ShopifyUserErrorException e) when (e.Has("TAKEN"))
            {
                // Taken by whom? An earlier send of ours (applied late, or by a driver that lost its lease) is adopted,
                // never doubled with a second discount under a new code.
                string? ours;
                try
                {
                    ours = await FindOursAsync(c, shopifyWait, ct);
                }
                catch (ShopifyThrottledException t)
                {
                    return await DeferAsync(c, t.RetryAfter, clearRequested: false, ct);
                }
                catch (Exception lookup) when (IsShopifyTransient(lookup) || lookup is ShopNotAuthorizedException)
                {
                    return await RetryLaterOrReviewAsync(c, $"looking up a taken code: {lookup.Message}", ct);
                }
                if (ours is not null) return await CouponCreatedAsync(c, ours, deductNext: false, ct);
                c = await NewCodeAsync(c, ct);
            }
            catch (ShopifyUserErrorException e)
            {
                return await FailAsync(c, "coupon_creation_failed", $"Shopify refused the coupon: {e.Message}", ct);
            }
            catch (ShopNotAuthorizedException e)
            {
                return await FailAsync(c, "shopify_unavailable", e.Message, ct);
            }
            catch (Exception e) when (IsShopifyTransient(e))
            {
                // The mutation may have been applied, or may still be. Found now: it was. Not found: nothing is decided
                // yet; a later drive looks again and fails the conversion only when that lookup is conclusive.
                try
                {
                    if (await FindOursAsync(c, shopifyWait, ct) is { } id) return await CouponCreatedAsync(c, id, deductNext: false, ct);
                }
                catch (Exception lookup) when (IsShopifyTransient(lookup) || lookup is ShopifyThrottledException or ShopNotAuthorizedException)
                {
                    LogStep(c.Id, "could not look the code up yet", lookup.Message);
                }
                return await RetryLaterOrReviewAsync(c, $"creating the coupon: {e.Message}", ct);
            }
        }
        return await FailAsync(c, "coupon_creation_failed", "No free coupon code was found.", ct);
    }

    /// <summary>
    /// This driver created a discount after losing the conversion (its send outlasted the lease). If the conversion failed
    /// meanwhile, or moved to another code, nobody will ever own this discount: it is deleted now rather than left live
    /// with no points paid for it. Best effort; the discount's title names the conversion for a merchant to find it.
    /// </summary>
    private async Task WithdrawIfOrphanAsync(ConversionRow c, string discountId, CancellationToken ct)
    {
        var now = await LoadAsync(c.Id, CancellationToken.None);
        if (now is null || now.DiscountId == discountId
            || now.State != ConversionStates.Failed && string.Equals(now.Code, c.Code, StringComparison.OrdinalIgnoreCase)) return;
        try
        {
            await shopify.DeleteAsync(c.ShopDomain, discountId, ct);
            LogStep(c.Id, "a coupon created after the lease was lost was withdrawn", discountId);
        }
        catch (Exception e) when (IsShopifyTransient(e) || e is ShopifyThrottledException or ShopNotAuthorizedException or ShopifyUserErrorException)
        {
            LogOrphan(c.ShopDomain, c.Id, discountId, e.Message);
        }
    }

    /// <summary>The id of the discount under the conversion's code when it is ours; null when it is someone else's or gone.</summary>
    private async Task<string?> FindOursAsync(ConversionRow c, TimeSpan? shopifyWait, CancellationToken ct)
    {
        c = await RenewLeaseAsync(c, ct);
        var found = await shopify.FindByCodeAsync(c.ShopDomain, c.Code, shopifyWait, ct);
        return found is not null && IsOurs(found, c) ? found.Id : null;
    }

    /// <summary>Leaves the conversion pending until the shop's cost bucket allows, and wakes the reconciler then.</summary>
    private async Task<ConversionRow> DeferAsync(ConversionRow c, TimeSpan retryAfter, bool clearRequested, CancellationToken ct)
    {
        retryAfter = ThrottleDelay(retryAfter);
        LogStep(c.Id, "waiting for Shopify's API limit", $"retry in {retryAfter.TotalSeconds:F1} s");
        var row = await UpdateAsync(c, "last_error = @reason, next_attempt_at = now() + make_interval(secs => @after)"
                                       + (clearRequested ? ", coupon_requested_at = NULL" : ""),
            new { reason = "waiting for Shopify's API cost bucket", after = retryAfter.TotalSeconds }, ct);
        trigger.WakeAfter(retryAfter);
        return row;
    }

    private static string Title(ConversionRow c) => $"Loyalty reward: {c.Points} points ({c.Id})";

    private static bool IsOurs(ShopifyDiscounts.FoundCode found, ConversionRow c) => found.Title?.Contains(c.Id, StringComparison.Ordinal) == true;

    private Task<ConversionRow> NewCodeAsync(ConversionRow c, CancellationToken ct) =>
        UpdateAsync(c, "code = @code, coupon_requested_at = NULL", new { code = ConversionIds.NewCode(c.CustomerId, c.Amount) }, ct);

    /// <param name="deductNext">
    /// The POS deduction is sent next, by this drive: <c>deduct_attempted_at</c> is recorded in this write (see <see cref="DeductAsync"/>).
    /// </param>
    private async Task<ConversionRow> CouponCreatedAsync(ConversionRow c, string discountId, bool deductNext, CancellationToken ct)
    {
        LogStep(c.Id, "coupon created", discountId);
        var row = await MoveAsync(c, ConversionStates.CouponCreated,
            "discount_id = @discountId, last_error = NULL" + (deductNext ? ", deduct_attempted_at = now()" : ""), new { discountId }, ct);
        return deductNext ? row with { DeductMarked = true } : row;
    }

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Conversion {ConversionId} of {Shop}: discount {DiscountId} was created after the conversion ended and could not be deleted " +
        "({Reason}); delete it in Shopify")]
    private partial void LogOrphan(string shop, string conversionId, string discountId, string reason);
}
