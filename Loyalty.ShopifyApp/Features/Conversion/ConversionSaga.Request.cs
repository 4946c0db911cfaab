using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The drive of a customer's request, which has just claimed its conversion. With <see cref="ConversionOptions.AnswerBeforeList"/> the
/// customer is answered once the points are deducted, and the same drive goes on to write their <c>loyalty.coupons</c> list behind
/// the answer, lease held, not tied to the request (a customer who leaves does not stop it; <see cref="ConversionDrives"/> lets a
/// shutdown wait for it). What the drive does and in which order is the same either way; only when the answer is given differs.
/// </summary>
public sealed partial class ConversionSaga
{
    /// <summary>
    /// Drives the conversion <paramref name="claimed"/> (the caller holds its lease) and returns the row to answer with: completed with
    /// its list still being written, or wherever the drive stopped. The lease is released by the drive's last write or after it.
    /// </summary>
    /// <param name="settings">The shop's settings as the request read them (the deduction's POS connection).</param>
    /// <param name="ct">
    /// The request's: cancels the wait for the answer, and without <see cref="ConversionOptions.AnswerBeforeList"/> the drive.
    /// </param>
    public async Task<ConversionRow> DriveForCustomerAsync(ConversionRow claimed, ShopSettings settings, CancellationToken ct)
    {
        var wait = TimeSpan.FromSeconds(Options.RequestShopifyWaitSeconds);
        if (!Options.AnswerBeforeList)
        {
            ConversionRow? driven = null;
            try
            {
                driven = await DriveAsync(claimed, wait, settings, releaseWhenSynced: true, beforeList: null, ct);
                return driven;
            }
            finally
            {
                if (driven is not { LeaseReleased: true }) await ReleaseAsync(claimed);
            }
        }
        var answer = new TaskCompletionSource<ConversionRow>(TaskCreationOptions.RunContinuationsAsynchronously);
        drives.Start(claimed.Id, () => DriveBehindAnswerAsync(claimed, wait, settings, answer));
        try
        {
            return await answer.Task.WaitAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The customer left before the answer: the drive goes on, and a failure of it is logged here, there being no one to tell.
            _ = answer.Task.ContinueWith(t => LogDriveFailed(t.Exception!.InnerException!, claimed.Id), CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
    }

    /// <summary>
    /// The whole drive, answered at the list's write (or at its end when it stops before). Not cancelled: what it sends is bounded by
    /// the calls' own timeouts, and a process that ends meanwhile leaves the lease to run out, for the reconciler. A drive that stops
    /// before the list releases the lease before the answer, as the request always did, so what is left goes to the reconciler at once.
    /// Never throws: whatever happens, the answer is given or the failure logged.
    /// </summary>
    private async Task DriveBehindAnswerAsync(ConversionRow claimed, TimeSpan wait, ShopSettings settings, TaskCompletionSource<ConversionRow> answer)
    {
        using var scope = logger.BeginConversionScope(claimed.ShopDomain, claimed.CustomerId, claimed.Id); // no request's scope here
        ConversionRow? driven = null;
        Exception? failure = null;
        try
        {
            try
            {
                driven = await DriveAsync(claimed, wait, settings, releaseWhenSynced: true, beforeList: row => answer.TrySetResult(row),
                    CancellationToken.None);
            }
            catch (Exception e)
            {
                failure = e;
            }
            if (driven is not { LeaseReleased: true }) await ReleaseAsync(claimed);
        }
        catch (Exception e) // the release's own failure: the lease runs out by itself
        {
            failure ??= e;
        }
        finally
        {
            if (failure is null) answer.TrySetResult(driven!);
            else if (!answer.TrySetException(failure)) LogDriveFailed(failure, claimed.Id); // answered already: the reconciler finishes it
        }
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Conversion {ConversionId}: its drive stopped after the customer was answered or had left; the reconciler finishes it")]
    private partial void LogDriveFailed(Exception e, string conversionId);
}
