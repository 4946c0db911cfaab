using System.Text.Json.Nodes;
using Dapper;
using Loyalty.Pos;
using Loyalty.ShopifyApp.Features.Points;
using Loyalty.ShopifyApp.Features.Settings;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Npgsql;

using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Conversion;

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

    /// <summary>What the customer sees: active, used, expired or cancelled.</summary>
    public string CouponView(DateTimeOffset now) => CouponStatus switch
    {
        "active" when ExpiresAt <= now => "expired",
        "cancelling" => "cancelled",
        _ => CouponStatus,
    };

    public bool InFlight => State is "pending" or "coupon_created" or "settling" or "compensating";
}

/// <summary>
/// The points → coupon saga, in the seed's order: (1) recorded and checked, (2) coupon created in Shopify,
/// (3) points deducted (POS with the conversion id as reference, or the ledger), (4) coupon appended to the
/// customer's <c>loyalty.coupons</c> metafield, (5) result. Every step is a persisted state and every
/// transition is guarded by the state it leaves, so the request and the reconciler run the same code and
/// can never both move a conversion. Invariant: a coupon exists and is usable if and only if its points
/// were deducted exactly once. Never guessed: an unknown deduction is settled by reference, and a coupon
/// whose points could not be deducted is deleted before the conversion is failed.
/// </summary>
public sealed partial class ConversionSaga(
    NpgsqlDataSource db,
    ShopifyDiscounts shopify,
    PosClient pos,
    IDataProtectionProvider dataProtection,
    IOptions<ConversionOptions> options,
    ConversionTrigger trigger,
    TimeProvider clock,
    ILogger<ConversionSaga> logger)
{
    private ConversionOptions O => options.Value;

    /// <summary>
    /// Moves the conversion as far as it can go now. The caller holds its lease. <paramref name="shopifyWait"/> caps
    /// how long the coupon's creation (and its metafield write, or a cancellation's deletion) waits for the shop's API
    /// cost bucket (a customer's request passes a short one); a coupon that cannot be sent within it is left pending
    /// for the reconciler, which is woken when the bucket allows.
    /// </summary>
    public async Task<ConversionRow> DriveAsync(ConversionRow c, CancellationToken ct, TimeSpan? shopifyWait = null)
    {
        using var scope = logger.BeginConversionScope(c.ShopDomain, c.CustomerId, c.Id);
        try
        {
            return await StepsAsync(c, shopifyWait, ct);
        }
        catch (LeaseLostException)
        {
            // Another driver claimed the conversion after this one's lease ran out (or an order used the coupon being
            // cancelled): this one changes nothing more.
            LogLeaseLost(c.Id, c.State);
            return await LoadAsync(c.Id, CancellationToken.None) ?? c;
        }
    }

    private async Task<ConversionRow> StepsAsync(ConversionRow c, TimeSpan? shopifyWait, CancellationToken ct)
    {
        for (var step = 0; step < 10; step++)
        {
            var before = (c.State, c.CouponStatus, c.MetafieldSyncedAt is null);
            c = c.State switch
            {
                "pending" => await CreateCouponAsync(c, shopifyWait, ct),
                "coupon_created" => await DeductAsync(c, ct),
                "settling" => await SettleAsync(c, ct),
                "compensating" => await CompensateAsync(c, ct),
                "completed" when c.CouponStatus == "cancelling" => await CancelCouponAsync(c, shopifyWait, ct),
                "completed" when c.MetafieldSyncedAt is null => await SyncMetafieldAsync(c, shopifyWait, ct),
                _ => c,
            };
            if ((c.State, c.CouponStatus, c.MetafieldSyncedAt is null) == before) break;
        }
        return c;
    }

    // ---- (2) the coupon ---------------------------------------------------------------------------

    private async Task<ConversionRow> CreateCouponAsync(ConversionRow c, TimeSpan? shopifyWait, CancellationToken ct)
    {
        if (c.CouponRequestedAt is { } requested)
        {
            // A crash, an answer that never came or a driver that lost its lease may have left the code created, or may
            // still create it: look before anything else, and never create it again while a send may be in flight.
            ShopifyDiscounts.FoundCode? found;
            try
            {
                c = await RenewLeaseAsync(c, ct);
                found = await shopify.FindByCodeAsync(c.ShopDomain, c.Code, ct, shopifyWait);
            }
            catch (ShopifyThrottledException e)
            {
                return await DeferAsync(c, e.RetryAfter, clearRequested: false, ct);
            }
            catch (Exception e) when (IsShopifyTransient(e) || e is ShopNotAuthorizedException)
            {
                return await RetryLaterOrReviewAsync(c, $"looking up the code: {e.Message}", ct);
            }
            if (found is not null && IsOurs(found, c)) return await CouponCreatedAsync(c, found.Id, ct);
            if (found is null)
            {
                // Conclusive only once no send can still be applied: PendingTimeoutSeconds after the last one was sent.
                if (clock.GetUtcNow() - requested <= TimeSpan.FromSeconds(O.PendingTimeoutSeconds))
                {
                    return await RetryLaterOrReviewAsync(c, "the coupon's creation may still be under way in Shopify", ct);
                }
                return await FailAsync(c, "shopify_unavailable", "Shopify did not create the coupon; no points were deducted.", ct);
            }
            c = await NewCodeAsync(c, ct); // the code belongs to another discount: ours was never created under it
        }
        else if (clock.GetUtcNow() - c.CreatedAt > TimeSpan.FromSeconds(O.ShopifyQueueTimeoutSeconds))
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
                    async token => c = await UpdateAsync(c, "coupon_requested_at = now()", null, token), ct, shopifyWait);
                try
                {
                    return await CouponCreatedAsync(c, discountId, ct);
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
                if (ours is not null) return await CouponCreatedAsync(c, ours, ct);
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
                    if (await FindOursAsync(c, shopifyWait, ct) is { } id) return await CouponCreatedAsync(c, id, ct);
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
        if (now is null || now.DiscountId == discountId || now.State != "failed" && string.Equals(now.Code, c.Code, StringComparison.OrdinalIgnoreCase)) return;
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
        var found = await shopify.FindByCodeAsync(c.ShopDomain, c.Code, ct, shopifyWait);
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

    /// <summary>
    /// When to try again after the bucket said no: when it allows, but not sooner than a second, so a reconciler run
    /// does not claim the same conversion again and again while the bucket is contended.
    /// </summary>
    private static TimeSpan ThrottleDelay(TimeSpan retryAfter) => retryAfter < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1) : retryAfter;

    /// <summary>
    /// A step that does not move the state (metafield, cancellation) is due again after the retry delay, or when
    /// the shop's API budget allows, with the reconciler woken for it then.
    /// </summary>
    private async Task TryAgainLaterAsync(ConversionRow c, Exception e, CancellationToken ct, bool countMetafieldFailure = false)
    {
        var delay = e is ShopifyThrottledException t ? ThrottleDelay(t.RetryAfter) : TimeSpan.FromSeconds(O.RetryDelaySeconds);
        await UpdateAsync(c, "last_error = @error, next_attempt_at = now() + make_interval(secs => @delay)"
                             + (countMetafieldFailure ? ", metafield_failures = metafield_failures + 1" : ""),
            new { error = e.Message, delay = delay.TotalSeconds }, ct);
        if (e is ShopifyThrottledException) trigger.WakeAfter(delay);
    }

    private static string Title(ConversionRow c) => $"Loyalty reward: {c.Points} points ({c.Id})";

    private static bool IsOurs(ShopifyDiscounts.FoundCode found, ConversionRow c) => found.Title?.Contains(c.Id, StringComparison.Ordinal) == true;

    private Task<ConversionRow> NewCodeAsync(ConversionRow c, CancellationToken ct) =>
        UpdateAsync(c, "code = @code, coupon_requested_at = NULL", new { code = ConversionIds.NewCode(c.CustomerId, c.Amount) }, ct);

    private async Task<ConversionRow> CouponCreatedAsync(ConversionRow c, string discountId, CancellationToken ct)
    {
        LogStep(c.Id, "coupon created", discountId);
        return await MoveAsync(c, "coupon_created", "discount_id = @discountId, last_error = NULL", new { discountId }, ct);
    }

    // ---- (3) the points ---------------------------------------------------------------------------

    private async Task<ConversionRow> DeductAsync(ConversionRow c, CancellationToken ct)
    {
        if (c.BalanceSource == "ledger")
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            Posted posted;
            try
            {
                posted = await Ledger.PostAsync(conn, tx, Entry(c), queueForPos: false, ct);
            }
            catch (InsufficientPointsException e)
            {
                await tx.RollbackAsync(ct);
                return await MoveAsync(c, "compensating", "failure_code = 'insufficient_points', failure_reason = @reason",
                    new { reason = $"The balance of {e.Balance} points no longer covers {c.Points}." }, ct);
            }
            var done = await CompleteAsync(conn, tx, c, posted.BalanceAfter, ct);
            await tx.CommitAsync(ct);
            return done;
        }

        var connection = await PosConnectionAsync(c, ct);
        if (connection is null && c.DeductAttemptedAt is not null)
        {
            // A deduction was sent and may stand: never compensated blind.
            return await ReviewAsync(c, "The shop no longer has a POS connection, and a deduction was already sent to the POS.", ct);
        }
        if (connection is null)
        {
            return await MoveAsync(c, "compensating", "failure_code = 'pos_not_configured', failure_reason = @reason",
                new { reason = "The shop no longer has a POS connection." }, ct);
        }
        c = await UpdateAsync(c, "deduct_attempted_at = now()", null, ct); // persisted (and the lease renewed) before the call
        var outcome = await pos.DeductAsync(connection, c.CustomerId.ToString(), c.Points, c.Id, $"coupon {c.Code}", ct);
        switch (outcome)
        {
            case PosOutcome.Applied applied:
                return await CompleteFromPosAsync(c, applied.Transaction.Balance, ct);
            case PosOutcome.Rejected rejected:
                return await MoveAsync(c, "compensating", "failure_code = @code, failure_reason = @reason",
                    new { code = rejected.Error, reason = $"The POS refused the deduction ({rejected.Error})." }, ct);
            default:
                var unknown = (PosOutcome.Unknown)outcome;
                LogStep(c.Id, "deduction outcome unknown, settling by reference", unknown.Reason);
                return await MoveAsync(c, "settling", "last_error = @reason, next_attempt_at = now() + make_interval(secs => @after)",
                    new { reason = unknown.Reason, after = (double)O.SettleAfterSeconds }, ct);
        }
    }

    private async Task<ConversionRow> SettleAsync(ConversionRow c, CancellationToken ct)
    {
        if (c.DeductAttemptedAt is { } sent && clock.GetUtcNow() - sent < TimeSpan.FromSeconds(O.SettleAfterSeconds)) return c;
        var connection = await PosConnectionAsync(c, ct);
        if (connection is null) return await ReviewAsync(c, "The shop no longer has a POS connection to settle the deduction with.", ct);

        c = await RenewLeaseAsync(c, ct);
        switch (await pos.FindTransactionAsync(connection, c.Id, ct))
        {
            case PosLookup.Found:
                LogStep(c.Id, "settled", "the POS applied the deduction");
                return await CompleteFromPosAsync(c, null, ct);
            case PosLookup.NotFound:
                LogStep(c.Id, "settled", "the POS never applied the deduction");
                return await MoveAsync(c, "compensating", "failure_code = 'pos_unavailable', failure_reason = @reason",
                    new { reason = "The POS did not take the points; the coupon is withdrawn." }, ct);
            case PosLookup.Unavailable u:
                return await RetryLaterOrReviewAsync(c, $"settling with the POS: {u.Reason}", ct);
        }
        return c;
    }

    /// <param name="posBalance">The balance the POS reported with the deduction; null when it was settled by lookup.</param>
    private async Task<ConversionRow> CompleteFromPosAsync(ConversionRow c, long? posBalance, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await Ledger.PostAsync(conn, tx, Entry(c), queueForPos: false, ct, posAuthoritative: true);
        var done = await CompleteAsync(conn, tx, c, posBalance, ct);
        await tx.CommitAsync(ct);
        return done;
    }

    private static PointsEntry Entry(ConversionRow c) => new(c.ShopDomain, c.CustomerId, -c.Points, "conversion", c.Id,
        $"Coupon {c.Code} ({c.Amount:0.00} {c.Currency})", "customer", c.CustomerId.ToString());

    private async Task<ConversionRow> CompleteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, ConversionRow c, long? balanceAfter,
        CancellationToken ct)
    {
        var done = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
            UPDATE conversions SET state = 'completed', coupon_status = 'active', completed_at = now(), updated_at = now(), last_error = NULL,
                                   balance_after = @balanceAfter
            WHERE id = @id AND state = @state AND lease_token = @token
            RETURNING {ConversionRow.Columns}
            """, new { id = c.Id, state = c.State, balanceAfter, token = c.LeaseToken }, tx, cancellationToken: ct))
            ?? throw new LeaseLostException(c.Id); // the deduction's ledger row is rolled back with the transaction
        var coupon = new { code = c.Code, amount = c.Amount, currency = c.Currency, expiresAt = c.ExpiresAt, customerId = c.CustomerId, source = "loyalty" };
        await Events.OutgoingEvents.EmitAsync(conn, tx, c.ShopDomain, "conversion.completed",
            new { conversionId = c.Id, customerId = c.CustomerId, points = c.Points, coupon }, ct);
        await Events.OutgoingEvents.EmitAsync(conn, tx, c.ShopDomain, "coupon.created", coupon, ct);
        LogCompleted(c.ShopDomain, c.CustomerId, c.Id, c.Points, c.Code);
        return done;
    }

    // ---- compensation ------------------------------------------------------------------------------

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
        return await MoveAsync(c, "failed", "coupon_status = 'none'", null, ct);
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
                await shopify.DeactivateAsync(c.ShopDomain, suspend, ct, shopifyWait, goneIsDone: true);
            }
            c = await RenewLeaseAsync(c, ct);
            var found = await shopify.FindByCodeAsync(c.ShopDomain, c.Code, ct, shopifyWait);
            if (c.UsedOrderId is not null || found is { UsageCount: > 0 } && (found.Id == c.DiscountId || IsOurs(found, c)))
            {
                LogStep(c.Id, "cancellation refused: the coupon was used", $"order {c.UsedOrderId}, {found?.UsageCount} use(s) in Shopify");
                return await UpdateCouponAsync(c, "coupon_status = 'used', used_at = coalesce(used_at, now()), metafield_synced_at = NULL", ct);
            }
            c = await RenewLeaseAsync(c, ct);
            if (c.DiscountId is not null) await shopify.DeleteAsync(c.ShopDomain, c.DiscountId, ct, shopifyWait);
        }
        catch (Exception e) when (IsShopifyTransient(e) || e is ShopNotAuthorizedException or ShopifyUserErrorException)
        {
            LogStep(c.Id, "cancellation waits for Shopify", e.Message);
            await TryAgainLaterAsync(c, e, ct);
            return c;
        }

        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, tx, c.ShopDomain, ct);
        await Ledger.PostAsync(conn, tx, new PointsEntry(c.ShopDomain, c.CustomerId, c.Points, "conversion_reversal", $"{c.Id}:reversal",
            $"Coupon {c.Code} cancelled", "customer", c.CustomerId.ToString()), settings.PosMode && c.BalanceSource == "pos", ct);
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

    // ---- state plumbing ----------------------------------------------------------------------------

    private Task<ConversionRow> FailAsync(ConversionRow c, string code, string reason, CancellationToken ct)
    {
        LogFailed(c.ShopDomain, c.Id, code, reason);
        return MoveAsync(c, "failed", "failure_code = @code, failure_reason = @reason", new { code, reason }, ct);
    }

    private Task<ConversionRow> ReviewAsync(ConversionRow c, string reason, CancellationToken ct)
    {
        LogNeedsReview(c.ShopDomain, c.Id, c.State, reason);
        return MoveAsync(c, "needs_review", "failure_reason = @reason, review_from = state", new { reason = $"While {c.State}: {reason}" }, ct);
    }

    private async Task<ConversionRow> RetryLaterOrReviewAsync(ConversionRow c, string reason, CancellationToken ct)
    {
        if (clock.GetUtcNow() - c.CreatedAt > TimeSpan.FromMinutes(O.NeedsReviewAfterMinutes)) return await ReviewAsync(c, reason, ct);
        LogStep(c.Id, "will retry", reason);
        return await UpdateAsync(c, "last_error = @reason, next_attempt_at = now() + make_interval(secs => @delay)",
            new { reason, delay = (double)O.RetryDelaySeconds }, ct);
    }

    /// <summary>
    /// Moves to <paramref name="to"/> from the state <paramref name="c"/> is in, only while this driver holds the lease
    /// (its token, checked in the same UPDATE); otherwise the driver has lost the conversion and stops.
    /// </summary>
    private async Task<ConversionRow> MoveAsync(ConversionRow c, string to, string set, object? args, CancellationToken ct)
    {
        var parameters = new DynamicParameters(args);
        parameters.Add("to", to);
        return await UpdateAsync(c, $"state = @to, {set}", parameters, ct);
    }

    /// <summary>
    /// Changes the row and renews the lease, in one UPDATE fenced by the lease token and the state; throws
    /// <see cref="LeaseLostException"/> when another driver holds the conversion now.
    /// </summary>
    private async Task<ConversionRow> UpdateAsync(ConversionRow c, string set, object? args, CancellationToken ct)
    {
        var parameters = args as DynamicParameters ?? new DynamicParameters(args);
        parameters.Add("id", c.Id);
        parameters.Add("from", c.State);
        parameters.Add("token", c.LeaseToken);
        parameters.Add("couponStatus", c.CouponStatus);
        parameters.Add("lease", (double)O.LeaseSeconds);
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
                   UPDATE conversions SET updated_at = now(), locked_until = now() + make_interval(secs => @lease), {set}
                   WHERE id = @id AND state = @from AND lease_token = @token
                     AND coupon_status = @couponStatus -- an order marking the coupon used meanwhile stops this driver too
                   RETURNING {ConversionRow.Columns}
                   """, parameters, cancellationToken: ct))
               ?? throw new LeaseLostException(c.Id);
    }

    /// <summary>Renews the lease before an external call; throws <see cref="LeaseLostException"/> when it was lost.</summary>
    private Task<ConversionRow> RenewLeaseAsync(ConversionRow c, CancellationToken ct) => UpdateAsync(c, "attempts = attempts", null, ct);

    public async Task<ConversionRow?> LoadAsync(string id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition(
            $"SELECT {ConversionRow.Columns} FROM conversions WHERE id = @id", new { id }, cancellationToken: ct));
    }

    private async Task<PosConnection?> PosConnectionAsync(ConversionRow c, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await ShopSettings.LoadAsync(conn, null, c.ShopDomain, ct)).PosConnection(dataProtection);
    }

    private static bool IsShopifyTransient(Exception e) => e is ShopifyUnavailableException or ShopifyGraphQLException;

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversion {ConversionId} ({State}) changed under this driver (its lease ran out and another claimed it, or an order used the coupon); this one stops")]
    private partial void LogLeaseLost(string conversionId, string state);

    [LoggerMessage(Level = LogLevel.Error, Message = "Conversion {ConversionId} of {Shop}: discount {DiscountId} was created after the conversion ended and could not be deleted ({Reason}); delete it in Shopify")]
    private partial void LogOrphan(string shop, string conversionId, string discountId, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Conversion {ConversionId}: {Step} ({Detail})")]
    private partial void LogStep(string conversionId, string step, string? detail);

    [LoggerMessage(Level = LogLevel.Information, Message = "Conversion {ConversionId} of customer {CustomerId} of {Shop} completed: {Points} points → {Code}")]
    private partial void LogCompleted(string shop, long customerId, string conversionId, long points, string code);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversion {ConversionId} of {Shop} failed ({Code}): {Reason}")]
    private partial void LogFailed(string shop, string conversionId, string code, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Conversion {ConversionId} of {Shop} needs review (was {State}): {Reason}")]
    private partial void LogNeedsReview(string shop, string conversionId, string state, string reason);
}

/// <summary>The driver's lease on a conversion ran out and another driver claimed it: this one must change nothing more.</summary>
public sealed class LeaseLostException(string conversionId) : Exception($"The lease on conversion {conversionId} was lost.");
