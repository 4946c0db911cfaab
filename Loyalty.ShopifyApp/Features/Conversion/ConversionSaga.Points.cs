using System.Diagnostics;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Step (3) of the saga: the points. In ledger mode they are posted in the transaction that completes the conversion;
/// in POS mode the POS deducts them with the conversion id as reference, and a deduction whose outcome is unknown is
/// settled by looking that reference up once no request that could still apply it can be in flight.
/// </summary>
public sealed partial class ConversionSaga
{
    private async Task<ConversionRow> DeductAsync(ConversionRow c, ShopSettings? settings, CancellationToken ct)
    {
        if (c.BalanceSource == BalanceSources.Ledger)
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            Posted posted;
            try
            {
                posted = await Ledger.PostAsync(conn, tx, Entry(c, programClock.Now), new Posting(QueueForPos: false), ct);
            }
            catch (InsufficientPointsException e)
            {
                await tx.RollbackAsync(ct);
                return await MoveAsync(c, ConversionStates.Compensating, "failure_code = 'insufficient_points', failure_reason = @reason",
                    new { reason = $"The balance of {e.Balance} points no longer covers {c.Points}." }, ct);
            }
            var done = await CompleteAsync(conn, tx, c, posted.BalanceAfter, ct);
            await tx.CommitAsync(ct);
            return done;
        }

        var connection = await PosConnectionAsync(c, settings, ct);
        if (connection is null && c.DeductAttemptedAt is not null)
        {
            // A deduction was sent and may stand: never compensated blind.
            return await ReviewAsync(c, "The shop no longer has a POS connection, and a deduction was already sent to the POS.", ct);
        }
        if (connection is null)
        {
            return await MoveAsync(c, ConversionStates.Compensating, "failure_code = 'pos_not_configured', failure_reason = @reason",
                new { reason = "The shop no longer has a POS connection." }, ct);
        }
        // Persisted (and the lease renewed) before the call; by the coupon's write moments ago when this drive made it so.
        if (!c.DeductMarked) c = await UpdateAsync(c, "deduct_attempted_at = now()", null, ct);
        var outcome = await pos.DeductAsync(connection, c.CustomerId.ToString(), c.Points, c.Id, $"coupon {c.Code}", ct);
        switch (outcome)
        {
            case PosOutcome.Applied applied:
                return await CompleteFromPosAsync(c, applied.Transaction.Balance, ct);
            case PosOutcome.Rejected rejected:
                return await MoveAsync(c, ConversionStates.Compensating, "failure_code = @code, failure_reason = @reason",
                    new { code = rejected.Error, reason = $"The POS refused the deduction ({rejected.Error})." }, ct);
            default:
                var unknown = (PosOutcome.Unknown)outcome;
                LogStep(c.Id, "deduction outcome unknown, settling by reference", unknown.Reason);
                return await MoveAsync(c, ConversionStates.Settling, "last_error = @reason, next_attempt_at = now() + make_interval(secs => @after)",
                    new { reason = unknown.Reason, after = (double)Options.SettleAfterSeconds }, ct);
        }
    }

    private async Task<ConversionRow> SettleAsync(ConversionRow c, CancellationToken ct)
    {
        if (c.DeductAttemptedAt is { } sent && clock.GetUtcNow() - sent < TimeSpan.FromSeconds(Options.SettleAfterSeconds)) return c;
        var connection = await PosConnectionAsync(c, null, ct);
        if (connection is null) return await ReviewAsync(c, "The shop no longer has a POS connection to settle the deduction with.", ct);

        c = await RenewLeaseAsync(c, ct);
        switch (await pos.FindTransactionAsync(connection, c.Id, ct))
        {
            case PosLookup.Found:
                LogStep(c.Id, "settled", "the POS applied the deduction");
                return await CompleteFromPosAsync(c, null, ct);
            case PosLookup.NotFound:
                LogStep(c.Id, "settled", "the POS never applied the deduction");
                return await MoveAsync(c, ConversionStates.Compensating, "failure_code = 'pos_unavailable', failure_reason = @reason",
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
        await Ledger.PostAsync(conn, tx, Entry(c, programClock.Now), new Posting(QueueForPos: false, PosAuthoritative: true), ct);
        var done = await CompleteAsync(conn, tx, c, posBalance, ct);
        await tx.CommitAsync(ct);
        return done;
    }

    /// <param name="at">The program's time now: the customer's activity (what an inactivity period counts from).</param>
    private static PointsEntry Entry(ConversionRow c, DateTimeOffset at) => new(c.ShopDomain, c.CustomerId, -c.Points, "conversion", c.Id,
        $"Coupon {c.Code} ({c.Amount:0.00} {c.Currency})", "customer", c.CustomerId.ToString(), OccurredAt: at);

    private async Task<ConversionRow> CompleteAsync(NpgsqlConnection conn, NpgsqlTransaction tx, ConversionRow c, long? balanceAfter,
        CancellationToken ct)
    {
        var coupon = new { code = c.Code, amount = c.Amount, currency = c.Currency, expiresAt = c.ExpiresAt, customerId = c.CustomerId,
            source = "loyalty" };
        // One round trip: the fenced completion, then what reports it (rolled back with the transaction if the fence finds the lease lost).
        await using var batch = new NpgsqlBatch(conn, tx)
        {
            BatchCommands =
            {
                new NpgsqlBatchCommand($"""
                    UPDATE conversions SET state = 'completed', coupon_status = 'active', completed_at = now(), updated_at = now(),
                                           last_error = NULL, balance_after = @balanceAfter,
                                           locked_until = clock_timestamp() + make_interval(secs => @lease)
                    WHERE id = @id AND state = @state AND lease_token = @token
                    RETURNING {ConversionRow.Columns}
                    """)
                {
                    Parameters =
                    {
                        new("id", c.Id), new("state", c.State), new("token", (object?)c.LeaseToken ?? DBNull.Value),
                        new("lease", (double)Options.LeaseSeconds),
                        new("balanceAfter", NpgsqlTypes.NpgsqlDbType.Bigint) { Value = (object?)balanceAfter ?? DBNull.Value },
                    },
                },
                Events.OutgoingEvents.EmitCommand(c.ShopDomain, "conversion.completed",
                    new { conversionId = c.Id, customerId = c.CustomerId, points = c.Points, coupon }),
                Events.OutgoingEvents.EmitCommand(c.ShopDomain, "coupon.created", coupon),
                Flow.FlowTriggers.QueueCommand(c.ShopDomain, Flow.FlowTrigger.CouponIssued, c.Id, c.CustomerId, new Dictionary<string, object>
                {
                    ["Coupon code"] = c.Code, ["Coupon value"] = c.Amount, ["Currency"] = c.Currency, ["Points"] = c.Points,
                    ["Expires at"] = Flow.FlowTriggers.Instant(c.ExpiresAt),
                }),
            },
        };
        var renewing = Stopwatch.GetTimestamp();
        ConversionRow? done;
        await using (var reader = await batch.ExecuteReaderAsync(ct))
        {
            done = await reader.ReadAsync(ct) ? reader.GetRowParser<ConversionRow>()(reader) : null;
            while (await reader.NextResultAsync(ct)) { } // the reports' errors, if any, surface here
        }
        if (done is null) throw new LeaseLostException(c.Id); // the deduction's ledger row is rolled back with the transaction
        done = done with { LeaseRenewedAt = renewing }; // the lease runs from the UPDATE's clock, after this
        LogCompleted(c.ShopDomain, c.CustomerId, c.Id, c.Points, c.Code);
        return done;
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Conversion {ConversionId} of customer {CustomerId} of {Shop} completed: {Points} points → {Code}")]
    private partial void LogCompleted(string shop, long customerId, string conversionId, long points, string code);
}
