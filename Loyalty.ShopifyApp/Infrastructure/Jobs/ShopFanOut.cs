using System.Linq.Expressions;
using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Db;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// Per-shop background work as one job per installed shop (issue 19's fan-out): a recurring run schedules the jobs spread
/// evenly over a period, so any instance's job worker takes any shop, a pass over thousands of shops is not one loop on one
/// instance, and Shopify sees the shops' calls spread out rather than in a burst. Each job runs its shop's work only while the
/// shop is installed and no other job runs the same work for it (a session advisory lock, released with the job or its
/// connection).
/// </summary>
public sealed partial class ShopFanOut(NpgsqlDataSource db, IBackgroundJobClient jobs, JobStorage storage, ILogger<ShopFanOut> logger)
{
    /// <summary>
    /// Schedules <paramref name="job"/> once per installed shop, the n-th of N at n × <paramref name="spread"/> / N, except for a
    /// shop whose previous job of this work is still waiting to start. A job that is gone before it started (it failed or was
    /// deleted, e.g. the database was down as it began; or the storage lost it, or it was scheduled more than an hour past its
    /// spread ago) does not hold its shop back.
    /// </summary>
    public Task<int> ScheduleAsync<T>(string work, TimeSpan spread, Func<string, Expression<Func<T, Task>>> job, CancellationToken ct) =>
        ScheduleAsync(work, spread, job, only: null, ct);

    /// <summary>
    /// As <see cref="ScheduleAsync{T}(string, TimeSpan, Func{string, Expression{Func{T, Task}}}, CancellationToken)"/>, for the installed
    /// shops among <paramref name="only"/> (all installed shops when null), in its order: work whose shops are not all due every run
    /// (a token about to expire) names them, most urgent first, and they are spread over the period in that order. A job waits in the
    /// queue its method names (<see cref="JobQueues"/>) once due.
    /// </summary>
    public async Task<int> ScheduleAsync<T>(string work, TimeSpan spread, Func<string, Expression<Func<T, Task>>> job,
        IReadOnlyList<string>? only, CancellationToken ct)
    {
        // The n-th shop is due n × spread / N after the pass began, however long the pass takes to schedule them: measured from
        // when each is scheduled, a slow pass (a busy database) would push its last shops past the next pass, which skips a shop
        // whose job has not started, so the shop would wait a whole interval more.
        var passStart = DateTimeOffset.UtcNow;
        await using var conn = await db.OpenConnectionAsync(ct);
        // One pass of a work at a time on any instance: a second pass would read the shops the first has just inserted, but not yet
        // given their job ids, as gone and schedule them again. It has nothing to add, so it stops. The lock is released in the
        // finally (SessionLocks: a session whose release fails is not reused).
        var key = $"fan-out:{work}";
        var locked = false;
        try
        {
            locked = await SessionLocks.TryTakeAsync(db, conn, key, ct);
            if (!locked)
            {
                // A pass that holds it for long (an instance cut off mid-pass keeps its session until PostgreSQL notices) holds every
                // shop's work back: a warning an operator sees, not a quiet "nothing due".
                LogPassUnderWay(work);
                return 0;
            }
            return await ScheduleLockedAsync(conn, work, passStart, spread, job, only, ct);
        }
        finally
        {
            if (locked) await SessionLocks.ReleaseAllAsync(db, conn);
        }
    }

    private async Task<int> ScheduleLockedAsync<T>(NpgsqlConnection conn, string work, DateTimeOffset passStart, TimeSpan spread,
        Func<string, Expression<Func<T, Task>>> job, IReadOnlyList<string>? only, CancellationToken ct)
    {
        var notStarted = await conn.QueryAsync<(string Shop, string? JobId)>(new CommandDefinition("""
            SELECT shop_domain, job_id FROM shop_job_runs
            WHERE work = @work AND (started_at IS NULL OR started_at < scheduled_at)
            """, new { work }, cancellationToken: ct));
        var lostInQueue = (await conn.QueryAsync<string>(new CommandDefinition("""
            SELECT jobid::text FROM hangfire.jobqueue WHERE jobid::text = ANY (@ids) AND fetchedat < now() - make_interval(secs => @grace)
            """, new { ids = notStarted.Select(n => n.JobId).OfType<string>().ToArray(), grace = StartGrace.TotalSeconds },
            cancellationToken: ct))).ToHashSet(StringComparer.Ordinal);
        var states = notStarted.Select(n => (n.Shop, n.JobId, State: n.JobId is null ? Gone.Yes
            : lostInQueue.Contains(n.JobId) ? Gone.LostWorker : JobGone(n.JobId))).ToList();
        // A job that lost its worker is still Hangfire's to hand out again (after its invisibility timeout): deleted, so the shop's
        // work runs in the job scheduled now only.
        foreach (var lost in states.Where(s => s.State == Gone.LostWorker)) jobs.Delete(lost.JobId);
        var gone = states.Where(s => s.State != Gone.No).Select(s => s.Shop).ToArray();
        var shops = (await conn.QueryAsync<string>(new CommandDefinition("""
            INSERT INTO shop_job_runs (work, shop_domain, scheduled_at)
            SELECT @work, shop_domain, now() FROM shops WHERE state = 'installed' AND (@all OR shop_domain = ANY (@only))
            ON CONFLICT (work, shop_domain) DO UPDATE SET scheduled_at = excluded.scheduled_at, job_id = NULL
            WHERE shop_job_runs.started_at >= shop_job_runs.scheduled_at
               OR shop_job_runs.shop_domain = ANY (@gone)
               OR shop_job_runs.scheduled_at < now() - make_interval(secs => @stale)
            RETURNING shop_domain
            """, new { work, gone, stale = spread.TotalSeconds + 3600, all = only is null, only = only?.ToArray() ?? [] },
            cancellationToken: ct))).Order(StringComparer.Ordinal).ToList();
        if (only is not null)
        {
            var rank = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < only.Count; i++) rank.TryAdd(only[i], i);
            shops = [.. shops.OrderBy(shop => rank[shop])];
        }
        var ids = new string[shops.Count];
        for (var i = 0; i < shops.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            ids[i] = jobs.Schedule(job(shops[i]), passStart + spread * i / shops.Count);
        }
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE shop_job_runs r SET job_id = s.job_id FROM unnest(@shops, @ids) AS s(shop_domain, job_id)
            WHERE r.work = @work AND r.shop_domain = s.shop_domain
            """, new { work, shops = shops.ToArray(), ids }, cancellationToken: ct));
        LogScheduled(work, shops.Count, spread.TotalSeconds);
        return shops.Count;
    }

    /// <summary>
    /// A job taken by a worker starts its shop's work (and marks it started) at once: one still processing this long after without
    /// doing so lost its worker (an instance killed between taking the job and starting it), and so did one taken from its queue
    /// this long ago that never turned Processing (the worker died, or lost the database, between the two). Hangfire only
    /// notices either after its invisibility timeout (<see cref="JobsOptions.InvisibilityTimeoutSeconds"/>).
    /// </summary>
    private static readonly TimeSpan StartGrace = TimeSpan.FromMinutes(1);

    /// <summary>
    /// True when the shop's last scheduled job (which has not started the shop's work) will not: Hangfire no longer holds it as
    /// waiting or running, or it lost its worker while processing (see <see cref="StartGrace"/>).
    /// </summary>
    private Gone JobGone(string jobId)
    {
        var latest = storage.GetMonitoringApi().JobDetails(jobId)?.History?.MaxBy(h => h.CreatedAt);
        return latest is null
            || latest.StateName == Hangfire.States.FailedState.StateName || latest.StateName == Hangfire.States.DeletedState.StateName
            || latest.StateName == Hangfire.States.SucceededState.StateName ? Gone.Yes
            : latest.StateName == Hangfire.States.ProcessingState.StateName && latest.CreatedAt < DateTime.UtcNow - StartGrace ? Gone.LostWorker
            : Gone.No;
    }

    /// <summary>Whether a shop's job that has not started its work will not: it is over (or was never recorded), or it lost its worker.</summary>
    private enum Gone { No, Yes, LostWorker }

    /// <summary>
    /// Runs <paramref name="run"/> for <paramref name="shop"/> unless the shop is no longer installed or <paramref name="work"/> is
    /// under way for it elsewhere; false when it did not run. Its start, end and any error are kept in <c>shop_job_runs</c>.
    /// </summary>
    public async Task<bool> RunAloneAsync(string work, string shop, Func<Task> run, CancellationToken ct)
    {
        await using var lockConnection = await db.OpenConnectionAsync(ct);
        var state = await lockConnection.QuerySingleOrDefaultAsync<string>(new CommandDefinition("""
            UPDATE shop_job_runs SET started_at = now() WHERE work = @work AND shop_domain = @shop;
            SELECT state FROM shops WHERE shop_domain = @shop;
            """, new { work, shop }, cancellationToken: ct));
        if (state != "installed") return false; // uninstalled since the run was scheduled
        try
        {
            if (!await SessionLocks.TryTakeAsync(db, lockConnection, LockKey(work, shop), ct))
            {
                LogUnderWay(work, shop);
                return false;
            }
            string? error = null;
            try
            {
                await run();
            }
            catch (Exception e)
            {
                error = e is OperationCanceledException ? "cancelled (the instance was stopping); the next run does it"
                    : $"{e.GetType().Name}: {e.Message}";
                throw;
            }
            finally
            {
                await lockConnection.ExecuteAsync(new CommandDefinition(
                    "UPDATE shop_job_runs SET finished_at = now(), last_error = @error WHERE work = @work AND shop_domain = @shop",
                    new { work, shop, error }, cancellationToken: CancellationToken.None));
            }
            return true;
        }
        finally
        {
            await SessionLocks.ReleaseAllAsync(db, lockConnection);
        }
    }

    /// <summary>The advisory lock <see cref="RunAloneAsync"/> holds while <paramref name="work"/> runs for <paramref name="shop"/>.</summary>
    public static string LockKey(string work, string shop) => $"{work}:{shop}";

    [LoggerMessage(Level = LogLevel.Information, Message = "{Work}: {Shops} shops scheduled, spread over {SpreadSeconds} s")]
    private partial void LogScheduled(string work, int shops, double spreadSeconds);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "{Work}: another pass still holds the scheduling lock, so this pass scheduled nothing; if this repeats, a stuck session holds "
                  + "every shop's {Work} back (see pg_locks)")]
    private partial void LogPassUnderWay(string work);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Work} of {Shop} skipped: it is under way elsewhere")]
    private partial void LogUnderWay(string work, string shop);
}
