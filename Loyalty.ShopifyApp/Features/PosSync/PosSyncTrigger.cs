using Hangfire;

namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>
/// Wakes the POS sync job right after something was queued, at most once per short window per instance
/// (a burst of orders enqueues one job, not one per order). The recurring job catches anything whose
/// wake-up was lost with a dying process.
/// </summary>
public sealed class PosSyncTrigger(IBackgroundJobClient jobs)
{
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(250);
    private long _lastEnqueued;
    private long _scheduledFor;

    public void Notify()
    {
        var now = DateTime.UtcNow.Ticks;
        var last = Interlocked.Read(ref _lastEnqueued);
        if (now - last >= Window.Ticks && Interlocked.CompareExchange(ref _lastEnqueued, now, last) == last)
        {
            jobs.Enqueue<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None));
            return;
        }
        // Inside the window: make sure one run follows it.
        var scheduled = Interlocked.Read(ref _scheduledFor);
        if (scheduled < now && Interlocked.CompareExchange(ref _scheduledFor, now + Window.Ticks, scheduled) == scheduled)
        {
            jobs.Schedule<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None), Window);
        }
    }

    /// <summary>
    /// Runs the job when a row retried with back-off becomes due (the recurring run is the safety net).
    /// Hangfire keeps schedule times in whole seconds and may start a job up to a second early, so the
    /// wake-up is set a second after the row's due time.
    /// </summary>
    public void NotifyAfter(TimeSpan delay) =>
        jobs.Schedule<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None), delay + TimeSpan.FromSeconds(1));
}
