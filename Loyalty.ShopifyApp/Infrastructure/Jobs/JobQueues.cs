namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// The Hangfire queues every job server here takes work from. A worker that frees up takes any waiting <see cref="Critical"/> job
/// before any <see cref="Default"/> one, so work that must not be late (an access token refreshed before it expires) does not
/// wait behind a backlog of bulk work (a flood of POS deliveries, a pass of per-shop sweeps). It still waits for a worker to
/// free up: critical jobs are short.
/// </summary>
/// <remarks>
/// Hangfire.PostgreSql takes the waiting job whose queue name sorts first, whatever order the server lists its queues in, so the
/// names carry the priority: <c>critical</c> sorts before <c>default</c>. A test proves the order end to end. A job's method names
/// its queue (<c>[Queue(JobQueues.Critical)]</c>, read when the job is enqueued), not the job as stored: jobs scheduled by this
/// code and enqueued by an older one after a rollback go to the only queue the older one takes.
/// </remarks>
public static class JobQueues
{
    public const string Critical = "critical";

    public const string Default = "default";

    /// <summary>The queues a job server listens to, most urgent first.</summary>
    public static readonly string[] All = [Critical, Default];
}
