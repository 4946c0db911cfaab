using System.Diagnostics;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The saga's state plumbing: every change of a conversion's row goes through
/// <see cref="UpdateAsync(ConversionRow, string, object?, bool, CancellationToken)"/>, one UPDATE fenced by the lease token, the state
/// it leaves and the coupon's status, which renews the lease as it writes (or, the drive's last write, ends it).
/// </summary>
public sealed partial class ConversionSaga
{
    private Task<ConversionRow> FailAsync(ConversionRow c, string code, string reason, CancellationToken ct)
    {
        LogFailed(c.ShopDomain, c.Id, code, reason);
        return MoveAsync(c, ConversionStates.Failed, "failure_code = @code, failure_reason = @reason", new { code, reason }, ct);
    }

    private Task<ConversionRow> ReviewAsync(ConversionRow c, string reason, CancellationToken ct)
    {
        LogNeedsReview(c.ShopDomain, c.Id, c.State, reason);
        return MoveAsync(c, ConversionStates.NeedsReview, "failure_reason = @reason, review_from = state",
            new { reason = $"While {c.State}: {reason}" }, ct);
    }

    private async Task<ConversionRow> RetryLaterOrReviewAsync(ConversionRow c, string reason, CancellationToken ct)
    {
        if (clock.GetUtcNow() - c.CreatedAt > TimeSpan.FromMinutes(Options.NeedsReviewAfterMinutes)) return await ReviewAsync(c, reason, ct);
        LogStep(c.Id, "will retry", reason);
        return await UpdateAsync(c, "last_error = @reason, next_attempt_at = now() + make_interval(secs => @delay)",
            new { reason, delay = (double)Options.RetryDelaySeconds }, ct);
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
    private Task<ConversionRow> UpdateAsync(ConversionRow c, string set, object? args, CancellationToken ct) =>
        UpdateAsync(c, set, args, release: false, ct);

    /// <param name="release">Ends the lease instead of renewing it: the driver writes nothing more (see <see cref="ReleaseAsync"/>).</param>
    private async Task<ConversionRow> UpdateAsync(ConversionRow c, string set, object? args, bool release, CancellationToken ct)
    {
        var parameters = args as DynamicParameters ?? new DynamicParameters(args);
        parameters.Add("id", c.Id);
        parameters.Add("from", c.State);
        parameters.Add("token", c.LeaseToken);
        parameters.Add("couponStatus", c.CouponStatus);
        parameters.Add("lease", (double)Options.LeaseSeconds);
        var renewing = Stopwatch.GetTimestamp();
        await using var conn = await keys.OpenConnectionAsync(ct); // one row by its key, nothing else
        var row = await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition($"""
                   UPDATE conversions SET updated_at = now(), locked_until = {(release ? "NULL" : "now() + make_interval(secs => @lease)")}, {set}
                   WHERE id = @id AND state = @from AND lease_token = @token
                     AND coupon_status = @couponStatus -- an order marking the coupon used meanwhile stops this driver too
                   RETURNING {ConversionRow.Columns}
                   """, parameters, cancellationToken: ct))
               ?? throw new LeaseLostException(c.Id);
        return release ? row with { LeaseReleased = true } : row with { LeaseRenewedAt = renewing };
    }

    /// <summary>Renews the lease before an external call; throws <see cref="LeaseLostException"/> when it was lost.</summary>
    private Task<ConversionRow> RenewLeaseAsync(ConversionRow c, CancellationToken ct) => UpdateAsync(c, "attempts = attempts", null, ct);

    /// <summary>
    /// Before an external call that only reads: the lease is renewed unless this driver renewed it within the last
    /// <see cref="FreshLeaseShare"/>th of <see cref="ConversionOptions.LeaseSeconds"/> (3 s of 60), when it still has nearly all
    /// of it. Whatever the read leads to is written through <see cref="UpdateAsync(ConversionRow, string, object?, bool, CancellationToken)"/>,
    /// fenced by the lease token as ever, and a write to Shopify or the POS always renews first (<see cref="RenewLeaseAsync"/>).
    /// </summary>
    private Task<ConversionRow> LeaseForReadAsync(ConversionRow c, CancellationToken ct) =>
        c.LeaseRenewedAt != 0 && Stopwatch.GetElapsedTime(c.LeaseRenewedAt) < TimeSpan.FromSeconds(Options.LeaseSeconds) / FreshLeaseShare
            ? Task.FromResult(c)
            : RenewLeaseAsync(c, ct);

    /// <summary>See <see cref="LeaseForReadAsync"/>.</summary>
    private const int FreshLeaseShare = 20;

    public async Task<ConversionRow?> LoadAsync(string id, CancellationToken ct)
    {
        await using var conn = await keys.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<ConversionRow>(new CommandDefinition(
            $"SELECT {ConversionRow.Columns} FROM conversions WHERE id = @id", new { id }, cancellationToken: ct));
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Conversion {ConversionId} of {Shop} failed ({Code}): {Reason}")]
    private partial void LogFailed(string shop, string conversionId, string code, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Conversion {ConversionId} of {Shop} needs review (was {State}): {Reason}")]
    private partial void LogNeedsReview(string shop, string conversionId, string state, string reason);
}
