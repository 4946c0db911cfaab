using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The points → coupon saga, in the seed's order: (1) recorded and checked, (2) coupon created in Shopify,
/// (3) points deducted (POS with the conversion id as reference, or the ledger), (4) coupon appended to the
/// customer's <c>loyalty.coupons</c> metafield, (5) result. Every step is a persisted state and every
/// transition is guarded by the state it leaves, so the request and the reconciler run the same code and
/// can never both move a conversion. Invariant: a coupon exists and is usable if and only if its points
/// were deducted exactly once. Never guessed: an unknown deduction is settled by reference, and a coupon
/// whose points could not be deducted is deleted before the conversion is failed.
/// This file holds the drive loop; the fenced state changes every step shares are in <c>ConversionSaga.State.cs</c>, and the
/// steps in <c>ConversionSaga.Coupon.cs</c>, <c>.Points.cs</c>, <c>.Compensation.cs</c> and <c>.Metafield.cs</c>.
/// </summary>
public sealed partial class ConversionSaga(
    NpgsqlDataSource db,
    [FromKeyedServices(Infrastructure.Db.DbExtensions.KeyLookups)] NpgsqlDataSource keys,
    ShopifyDiscounts shopify,
    PosClient pos,
    IDataProtectionProvider dataProtection,
    IOptions<ConversionOptions> options,
    ConversionTrigger trigger,
    ConversionDrives drives,
    TimeProvider clock,
    Pending.ProgramClock programClock,
    ILogger<ConversionSaga> logger)
{
    private ConversionOptions Options => options.Value;

    /// <summary>Moves the conversion as far as it can go now; Shopify calls wait for the cost bucket as long as the GraphQL client allows.</summary>
    public Task<ConversionRow> DriveAsync(ConversionRow c, CancellationToken ct) => DriveAsync(c, null, ct);

    /// <summary>
    /// Moves the conversion as far as it can go now. The caller holds its lease. <paramref name="shopifyWait"/> caps
    /// how long the coupon's creation (and its metafield write, or a cancellation's deletion) waits for the shop's API
    /// cost bucket (a customer's request passes a short one); a coupon that cannot be sent within it is left pending
    /// for the reconciler, which is woken when the bucket allows.
    /// </summary>
    public Task<ConversionRow> DriveAsync(ConversionRow c, TimeSpan? shopifyWait, CancellationToken ct) => DriveAsync(c, shopifyWait, null, ct);

    /// <param name="settings">The shop's settings as the caller just read them, for the deduction's POS connection; null: read here.</param>
    public Task<ConversionRow> DriveAsync(ConversionRow c, TimeSpan? shopifyWait, ShopSettings? settings, CancellationToken ct) =>
        DriveAsync(c, shopifyWait, settings, releaseWhenSynced: false, beforeList: null, ct);

    /// <param name="releaseWhenSynced">
    /// The caller releases the lease when the drive is over: the metafield's last write, the drive's last, releases it in the same
    /// UPDATE (the row comes back <see cref="ConversionRow.LeaseReleased"/>), so the caller need not write again.
    /// </param>
    /// <param name="beforeList">Told the row when the drive comes to the list's write with the conversion completed (the answer).</param>
    private async Task<ConversionRow> DriveAsync(ConversionRow c, TimeSpan? shopifyWait, ShopSettings? settings, bool releaseWhenSynced,
        Action<ConversionRow>? beforeList, CancellationToken ct)
    {
        using var scope = logger.BeginConversionScope(c.ShopDomain, c.CustomerId, c.Id);
        try
        {
            return await StepsAsync(c, shopifyWait, settings, releaseWhenSynced, beforeList, ct);
        }
        catch (LeaseLostException)
        {
            // Another driver claimed the conversion after this one's lease ran out (or an order used the coupon being
            // cancelled): this one changes nothing more.
            LogLeaseLost(c.Id, c.State);
            return await LoadAsync(c.Id, CancellationToken.None) ?? c;
        }
    }

    /// <summary>
    /// The request's drive is over: the lease is released (before the answer when the drive stops short of the list), so what is
    /// not finished goes to the reconciler, and a customer's cancellation or a merchant's review of a settled one is not refused as
    /// in progress.
    /// </summary>
    private async Task ReleaseAsync(ConversionRow claimed)
    {
        try
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            await conn.ExecuteAsync(new CommandDefinition("UPDATE conversions SET locked_until = NULL WHERE id = @Id AND lease_token = @LeaseToken",
                claimed));
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException or ObjectDisposedException)
        {
            LogReleaseFailed(e, claimed.Id); // the lease runs out by itself; the reconciler takes the conversion then
        }
    }

    private async Task<ConversionRow> StepsAsync(ConversionRow c, TimeSpan? shopifyWait, ShopSettings? settings, bool releaseWhenSynced,
        Action<ConversionRow>? beforeList, CancellationToken ct)
    {
        // Shopify's list, read while the points are deducted (Conversion:ReadListAhead): the list's write comes after the deduction,
        // its read need not. Not before the coupon's answer: the read takes only budget the bucket has spare once the coupon's answer
        // told it what is left (coupons first). Only for the customer's request, which waits for it (a reconciler's drive of a
        // conversion whose POS is down would read again every run). Handed to the metafield step once; a read no step took runs to its
        // end on the drive's token (not cancelled here: it may be refreshing the shop's access token) and is dropped.
        Task<ShopifyDiscounts.Metafield>? listAhead = null;
        var listAheadHanded = false;
        try
        {
            for (var step = 0; step < 10; step++)
            {
                var before = (c.State, c.CouponStatus, c.MetafieldSyncedAt is null);
                if (c.State == ConversionStates.CouponCreated && c.MetafieldSyncedAt is null && Options.ReadListAhead && releaseWhenSynced
                    && listAhead is null)
                {
                    listAhead = shopify.ReadCouponsAsync(c.ShopDomain, c.CustomerId, TimeSpan.Zero, ct);
                }
                if (c is { State: ConversionStates.Completed, MetafieldSyncedAt: null } && c.CouponStatus != CouponStatuses.Cancelling)
                {
                    beforeList?.Invoke(c);
                }
                c = c.State switch
                {
                    ConversionStates.Pending => await CreateCouponAsync(c, shopifyWait, DeductsAtPosNext(c, settings), ct),
                    ConversionStates.CouponCreated => await DeductAsync(c, settings, ct),
                    ConversionStates.Settling => await SettleAsync(c, ct),
                    ConversionStates.Compensating => await CompensateAsync(c, ct),
                    ConversionStates.Completed when c.CouponStatus == CouponStatuses.Cancelling => await CancelCouponAsync(c, shopifyWait, ct),
                    ConversionStates.Completed when c.MetafieldSyncedAt is null =>
                        await SyncMetafieldAsync(c, shopifyWait, releaseWhenSynced, HandListAhead(), ct),
                    _ => c,
                };
                if ((c.State, c.CouponStatus, c.MetafieldSyncedAt is null) == before) break;
            }
            return c;
        }
        finally
        {
            // Observed, whoever awaited it or not: a read the drive did not use ends quietly.
            _ = listAhead?.ContinueWith(static read => _ = read.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted,
                TaskScheduler.Default);
        }

        Task<ShopifyDiscounts.Metafield>? HandListAhead()
        {
            var handed = listAheadHanded ? null : listAhead;
            listAheadHanded = true;
            return handed;
        }
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
    private async Task TryAgainLaterAsync(ConversionRow c, Exception e, bool countMetafieldFailure, CancellationToken ct)
    {
        var delay = e is ShopifyThrottledException t ? ThrottleDelay(t.RetryAfter) : TimeSpan.FromSeconds(Options.RetryDelaySeconds);
        await UpdateAsync(c, "last_error = @error, next_attempt_at = now() + make_interval(secs => @delay)"
                             + (countMetafieldFailure ? ", metafield_failures = metafield_failures + 1" : ""),
            new { error = e.Message, delay = delay.TotalSeconds }, ct);
        if (e is ShopifyThrottledException) trigger.WakeAfter(delay);
    }

    private async Task<PosConnection?> PosConnectionAsync(ConversionRow c, ShopSettings? settings, CancellationToken ct)
    {
        if (settings is not null) return settings.PosConnection(c.ShopDomain, dataProtection);
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await ShopSettings.LoadAsync(conn, null, c.ShopDomain, ct)).PosConnection(c.ShopDomain, dataProtection);
    }

    /// <summary>
    /// The drive goes from the coupon straight to the POS deduction with settings its caller read (the customer's request): the coupon's
    /// write also marks the deduction, one UPDATE and commit instead of two. Without them (the reconciler) the deduction marks itself.
    /// </summary>
    private bool DeductsAtPosNext(ConversionRow c, ShopSettings? settings) =>
        c.BalanceSource == BalanceSources.Pos && settings?.PosConnection(c.ShopDomain, dataProtection) is not null;

    private static bool IsShopifyTransient(Exception e) => e is ShopifyUnavailableException or ShopifyGraphQLException;

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Conversion {ConversionId} ({State}) changed under this driver (its lease ran out and another claimed it, or an order used the " +
        "coupon); this one stops")]
    private partial void LogLeaseLost(string conversionId, string state);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversion {ConversionId}: its lease could not be released; it runs out by itself")]
    private partial void LogReleaseFailed(Exception e, string conversionId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Conversion {ConversionId}: {Step} ({Detail})")]
    private partial void LogStep(string conversionId, string step, string? detail);
}
