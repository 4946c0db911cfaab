using Hangfire;

namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>
/// Wakes the POS sync job right after something was queued, at most once per short window per instance
/// (a burst of orders enqueues one job, not one per order). The recurring job catches anything whose
/// wake-up was lost with a dying process.
/// </summary>
/// <remarks>
/// The rule that makes it safe: every <see cref="Notify"/> (made after its row committed) is followed by a job that
/// starts after it. Outside the window that is a job enqueued now. Inside it, one scheduled job covers every
/// notification up to the time it is sure not to have started yet. Hangfire keeps schedule times in whole seconds and
/// may start a scheduled job up to a second early, so the job is scheduled a second later than the time it covers.
/// </remarks>
public sealed class PosSyncTrigger(IBackgroundJobClient jobs, TimeProvider clock)
{
    public static readonly TimeSpan Window = TimeSpan.FromMilliseconds(250);

    /// <summary>How early Hangfire may start a scheduled job.</summary>
    public static readonly TimeSpan ScheduleSlack = TimeSpan.FromSeconds(1);

    private long _lastEnqueued;
    private long _coveredUntil;

    public void Notify()
    {
        var now = clock.GetUtcNow().UtcTicks;
        var last = Interlocked.Read(ref _lastEnqueued);
        if (now - last >= Window.Ticks && Interlocked.CompareExchange(ref _lastEnqueued, now, last) == last)
        {
            jobs.Enqueue<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None));
            return;
        }
        // Inside the window: a scheduled job that cannot start before now + Window covers this and the next ones until then.
        var covered = Interlocked.Read(ref _coveredUntil);
        if (covered < now && Interlocked.CompareExchange(ref _coveredUntil, now + Window.Ticks, covered) == covered)
        {
            jobs.Schedule<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None), Window + ScheduleSlack);
        }
    }

    /// <summary>
    /// Runs the job when a row retried with back-off becomes due (the recurring run is the safety net), never before
    /// (see <see cref="ScheduleSlack"/>).
    /// </summary>
    public void NotifyAfter(TimeSpan delay) =>
        jobs.Schedule<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None), delay + ScheduleSlack);
}
