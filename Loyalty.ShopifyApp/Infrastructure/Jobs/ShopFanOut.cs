using System.Linq.Expressions;
using Hangfire;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// Per-shop background work as one job per installed shop (issue 19's fan-out): a recurring run schedules the jobs spread
/// evenly over a period, so any instance's job worker takes any shop, a pass over thousands of shops is not one loop on one
/// instance, and Shopify sees the shops' calls spread out rather than in a burst. Each job runs its shop's work only while the
/// shop is installed and no other job runs the same work for it (a session advisory lock, released with the job or its
/// connection).
/// </summary>
public sealed partial class ShopFanOut(NpgsqlDataSource db, IBackgroundJobClient jobs, ILogger<ShopFanOut> logger)
{
    /// <summary>Schedules <paramref name="job"/> once per installed shop, the n-th of N at n × <paramref name="spread"/> / N.</summary>
    public async Task<int> ScheduleAsync<T>(string work, TimeSpan spread, Func<string, Expression<Func<T, Task>>> job, CancellationToken ct)
    {
        List<string> shops;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            shops = (await conn.QueryAsync<string>(new CommandDefinition(
                "SELECT shop_domain FROM shops WHERE state = 'installed' ORDER BY shop_domain", cancellationToken: ct))).ToList();
        }
        for (var i = 0; i < shops.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            jobs.Schedule(job(shops[i]), spread * i / shops.Count);
        }
        LogScheduled(work, shops.Count, spread.TotalSeconds);
        return shops.Count;
    }

    /// <summary>
    /// Runs <paramref name="run"/> for <paramref name="shop"/> unless the shop is no longer installed or <paramref name="work"/> is
    /// under way for it elsewhere; false when it did not run.
    /// </summary>
    public async Task<bool> RunAloneAsync(string work, string shop, Func<Task> run, CancellationToken ct)
    {
        await using var lockConnection = await db.OpenConnectionAsync(ct);
        var state = await lockConnection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT state FROM shops WHERE shop_domain = @shop", new { shop }, cancellationToken: ct));
        if (state != "installed") return false; // uninstalled since the run was scheduled
        if (!await lockConnection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(hashtextextended(@key, 0))",
                new { key = LockKey(work, shop) }, cancellationToken: ct)))
        {
            LogUnderWay(work, shop);
            return false;
        }
        try
        {
            await run();
            return true;
        }
        finally
        {
            await lockConnection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock_all()", cancellationToken: CancellationToken.None));
        }
    }

    /// <summary>The advisory lock <see cref="RunAloneAsync"/> holds while <paramref name="work"/> runs for <paramref name="shop"/>.</summary>
    public static string LockKey(string work, string shop) => $"{work}:{shop}";

    [LoggerMessage(Level = LogLevel.Information, Message = "{Work}: {Shops} shops scheduled, spread over {SpreadSeconds} s")]
    private partial void LogScheduled(string work, int shops, double spreadSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Work} of {Shop} skipped: it is under way elsewhere")]
    private partial void LogUnderWay(string work, string shop);
}
