using System.Text.Json.Nodes;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Step (4) of the saga: the customer's <c>loyalty.coupons</c> metafield. A bounded list (metafield values have a
/// size limit): every live coupon, then used and expired ones of the last
/// <see cref="ConversionOptions.MetafieldRecentDays"/>, newest first, <see cref="ConversionOptions.MetafieldMaxEntries"/>
/// at most. A write that keeps failing (<see cref="ConversionOptions.MetafieldMaxFailures"/> drives in a row) goes to
/// the merchant as an incident instead of being retried forever; resolving the incident retries it. A write answered
/// with an error may still be applied by Shopify later; the list is written once more after
/// <see cref="ConversionOptions.MetafieldLateWriteSeconds"/> so such a write cannot be the last word.
/// </summary>
public sealed partial class ConversionSaga
{
    /// <summary>
    /// Rewrites the customer's <c>loyalty.coupons</c> list from our records, keeping entries this app did not write.
    /// Optimistic: the write carries the digest read, and a STALE_OBJECT answer means read, merge and write again.
    /// </summary>
    /// <param name="release">The write that records the outcome also releases the lease (the drive ends with it).</param>
    /// <param name="readAhead">
    /// Shopify's list as read while this drive deducted the points
    /// (<see cref="ConversionOptions.ReadListAhead"/>): the first attempt merges into it instead of reading again; one the bucket handed
    /// back is read again here. A list read ahead is written only if the bucket has room at once (the customer's code is not held back
    /// for it); a later round (after STALE_OBJECT) waits its turn as below.
    /// </param>
    private async Task<ConversionRow> SyncMetafieldAsync(ConversionRow c, TimeSpan? writeWait, bool release,
        Task<ShopifyDiscounts.Metafield>? readAhead, CancellationToken ct)
    {
        // Coupons first: the list is only started (read) with budget the shop's bucket has spare now, never queued
        // ahead of a customer's coupon; when there is none it is left to the reconciler, for when the bucket allows.
        // Once read, the write waits its turn like any call, so a read is not spent for nothing (a list read ahead excepted, below).
        var readWait = TimeSpan.Zero;
        // An open incident about this list came with a failure count (MetafieldToReviewAsync); none counted, none to close.
        var mayHaveIncident = c.MetafieldFailures > 0;
        // Before each send the row records it (metafield_uncertain_at, the earlier mark kept in _prev), so a write whose
        // answer never comes (an error, a timeout, a lost lease, a killed process) stays marked; a sure answer puts the
        // earlier mark back.
        var sent = false;
        async Task MarkSendingAsync(CancellationToken token)
        {
            // Only the first send of this sync keeps the earlier mark: a resend follows a THROTTLED or STALE_OBJECT answer,
            // both sure that nothing was applied.
            c = await UpdateAsync(c, sent ? "metafield_uncertain_at = now()"
                : "metafield_uncertain_prev = greatest(metafield_uncertain_prev, metafield_uncertain_at), metafield_uncertain_at = now()", null,
                token);
            sent = true;
        }
        try
        {
            for (var attempt = 1; ; attempt++)
            {
                var ahead = await ReadAheadAsync(readAhead);
                readAhead = null; // a round after STALE_OBJECT reads afresh
                c = await LeaseForReadAsync(c, ct); // the write below is fenced by MarkSendingAsync
                var current = ahead ?? await shopify.ReadCouponsAsync(c.ShopDomain, c.CustomerId, readWait, ct);
                var items = new JsonArray();
                foreach (var item in current.Items)
                {
                    if (item?["conversionId"]?.GetValue<string>() is { } other && other.StartsWith("conv_", StringComparison.Ordinal)) continue;
                    items.Add(item?.DeepClone());
                }
                // After Shopify's list, never before: what another sync wrote there, its change to our rows committed first, is seen.
                foreach (var coupon in await CouponsOfAsync(c.ShopDomain, c.CustomerId, ct)) items.Add(MetafieldEntry(coupon));
                try
                {
                    // A list read ahead is written only if the bucket has room now: the customer's code is not held back for it (under a
                    // spent bucket a read ahead can get budget between coupons; its write would then wait behind them while the
                    // customer waits for the code, or, answered before the list, while the drive holds the coupon a cancellation waits
                    // for). Without room it is left to the reconciler, as a list not read is.
                    await shopify.WriteCouponsAsync(c.ShopDomain, c.CustomerId, items, current.CompareDigest, MarkSendingAsync,
                        ahead is not null ? TimeSpan.Zero : writeWait, ct);
                    break;
                }
                catch (ShopifyUserErrorException e) when (e.Has("STALE_OBJECT") && attempt < Options.MetafieldAttempts)
                {
                    LogStep(c.Id, "metafield changed meanwhile, merging again", e.Message);
                }
            }
        }
        catch (Exception e) when (IsShopifyTransient(e) || e is ShopifyThrottledException or ShopifyUserErrorException or ShopNotAuthorizedException
                                      or KeyNotFoundException or InvalidOperationException or System.Text.Json.JsonException)
        {
            // Nice to have: the coupon and the points are right; the reconciler repairs the list later, whatever went
            // wrong here (including an answer of an unexpected shape), or when the shop's API budget allows again.
            // Waiting for the budget is not a failure; anything else counts towards the merchant's review.
            LogStep(c.Id, "metafield not updated yet", e.Message);
            if (sent && e is ShopifyThrottledException or ShopifyUserErrorException) c = await UnmarkAsync(c, ct); // refused: never applied
            if (e is not ShopifyThrottledException && c.MetafieldFailures + 1 >= Options.MetafieldMaxFailures) return await MetafieldToReviewAsync(c,
                e, ct);
            await TryAgainLaterAsync(c, e, countMetafieldFailure: e is not ShopifyThrottledException, ct);
            return c;
        }
        // Synced, unless a write of this conversion that may still be applied late was sent less than
        // MetafieldLateWriteSeconds ago: then once more after that, when nothing sent before can land on top any more.
        // This write was answered; only an earlier, unanswered one (metafield_uncertain_prev) can still land.
        c = await UpdateAsync(c, """
            metafield_synced_at = CASE WHEN metafield_uncertain_prev > now() - make_interval(secs => @late) THEN NULL ELSE now() END,
            next_attempt_at = CASE WHEN metafield_uncertain_prev > now() - make_interval(secs => @late)
                                   THEN metafield_uncertain_prev + make_interval(secs => @late) ELSE next_attempt_at END,
            metafield_failures = CASE WHEN metafield_uncertain_prev > now() - make_interval(secs => @late) THEN metafield_failures ELSE 0 END,
            metafield_uncertain_at = CASE WHEN metafield_uncertain_prev > now() - make_interval(secs => @late) THEN metafield_uncertain_prev END,
            metafield_uncertain_prev = NULL
            """, new { late = (double)Options.MetafieldLateWriteSeconds }, release && !mayHaveIncident, ct); // the close below is not fenced
        if (mayHaveIncident) await CloseMetafieldIncidentAsync(c, ct);
        if (c.MetafieldSyncedAt is null) trigger.WakeAfter(TimeSpan.FromSeconds(Options.MetafieldLateWriteSeconds)); // once more after the window
        return c;
    }

    /// <summary>
    /// The list read ahead; null when there was none, or when the shop's bucket had no budget to spare for it then (nothing was sent:
    /// the caller reads now, as it did before reads went ahead). Any other failure is the read's failure, handled as one.
    /// </summary>
    private static async Task<ShopifyDiscounts.Metafield?> ReadAheadAsync(Task<ShopifyDiscounts.Metafield>? ahead)
    {
        if (ahead is null) return null;
        try
        {
            return await ahead;
        }
        catch (ShopifyThrottledException)
        {
            return null;
        }
    }

    private Task<ConversionRow> UnmarkAsync(ConversionRow c, CancellationToken ct) =>
        UpdateAsync(c, "metafield_uncertain_at = metafield_uncertain_prev, metafield_uncertain_prev = NULL", null, ct);

    /// <summary>A write that kept failing went to the merchant; it went through now, so the incident is closed by the app.</summary>
    private async Task CloseMetafieldIncidentAsync(ConversionRow c, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE coupon_incidents SET resolved_at = now(), resolved_by = 'app', resolution = 'The list was written after all.'
            WHERE conversion_id = @Id AND kind = '{CouponIncidents.MetafieldWriteFailed}' AND resolved_at IS NULL
            """, c, cancellationToken: ct));
    }

    /// <summary>The write keeps failing: an incident for the merchant, and the reconciler leaves it until it is resolved.</summary>
    private async Task<ConversionRow> MetafieldToReviewAsync(ConversionRow c, Exception e, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
            UPDATE conversions SET metafield_failures = metafield_failures + 1, last_error = @error, updated_at = now()
            WHERE id = @Id AND lease_token = @LeaseToken
            RETURNING {ConversionRow.Columns}
            """, new { c.Id, c.LeaseToken, error = e.Message }, tx, cancellationToken: ct)) ?? throw new LeaseLostException(c.Id);
        await conn.ExecuteAsync(new CommandDefinition($"""
            INSERT INTO coupon_incidents (shop_domain, conversion_id, order_id, kind, code, amount, currency, points, detected_by, detail)
            VALUES (@ShopDomain, @Id, NULL, '{CouponIncidents.MetafieldWriteFailed}', @Code, @Amount, @Currency, @Points, 'reconciler', @detail)
            ON CONFLICT DO NOTHING
            """, new { c.ShopDomain, c.Id, c.Code, c.Amount, c.Currency, c.Points, detail = e.Message }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        LogMetafieldReview(c.ShopDomain, c.Id, c.CustomerId, row.MetafieldFailures, e.Message);
        return row;
    }

    private JsonObject MetafieldEntry(ConversionRow c) => new()
    {
        ["code"] = c.Code, ["amount"] = c.Amount.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture),
        ["currency"] = c.Currency, ["points"] = c.Points, ["createdAt"] = c.CreatedAt.ToString("O"),
        ["expiresAt"] = c.ExpiresAt.ToString("O"), ["discountId"] = c.DiscountId, ["status"] = c.CouponView(clock.GetUtcNow()),
        ["conversionId"] = c.Id,
    };

    /// <summary>
    /// The coupons the list shows, oldest first: every live one (active, unexpired), then the newest of those used or
    /// expired within <see cref="ConversionOptions.MetafieldRecentDays"/>, up to
    /// <see cref="ConversionOptions.MetafieldMaxEntries"/> in all.
    /// </summary>
    public async Task<IReadOnlyList<ConversionRow>> CouponsOfAsync(string shop, long customerId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<ConversionRow>(new CommandDefinition($"""
            SELECT * FROM (
                SELECT {ConversionRow.Columns} FROM conversions
                WHERE shop_domain = @shop AND customer_id = @customerId AND state = 'completed'
                  AND (coupon_status = 'active' AND expires_at > now()
                       OR coupon_status IN ('active', 'used') AND coalesce(used_at, expires_at) > now() - make_interval(days => @days))
                ORDER BY (coupon_status = 'active' AND expires_at > now()) DESC, created_at DESC
                LIMIT @max) listed
            ORDER BY created_at
            """, new { shop, customerId, days = Options.MetafieldRecentDays, max = Options.MetafieldMaxEntries }, cancellationToken: ct))).ToList();
    }

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Conversion {ConversionId} of {Shop}: the loyalty.coupons metafield of customer {CustomerId} failed {Failures} times ({Reason}); " +
            "it waits for the merchant")]
    private partial void LogMetafieldReview(string shop, string conversionId, long customerId, int failures, string reason);
}
