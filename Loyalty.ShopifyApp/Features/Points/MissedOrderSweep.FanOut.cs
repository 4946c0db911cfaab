using Hangfire;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// The recurring run fans out: one job per installed shop, spread evenly over <see cref="OrderSweepOptions.SpreadSeconds"/>,
/// so any instance's job worker sweeps any shop, a pass over thousands of shops is not one loop on one instance, and
/// Shopify's API sees the shops' calls spread out rather than in a burst. One sweep of a shop runs at a time, on any instance
/// (a session advisory lock); a shop's watermark, last run and last error are in <c>order_sweeps</c>.
/// </summary>
public sealed partial class MissedOrderSweep
{
    [AutomaticRetry(Attempts = 0)]
    [DisableConcurrentExecution(timeoutInSeconds: 60)]
    public async Task SweepAllAsync(CancellationToken ct)
    {
        List<string> shops;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            shops = (await conn.QueryAsync<string>(new CommandDefinition(
                "SELECT shop_domain FROM shops WHERE state = 'installed' ORDER BY shop_domain", cancellationToken: ct))).ToList();
        }
        var spread = TimeSpan.FromSeconds(options.Value.SpreadSeconds);
        for (var i = 0; i < shops.Count; i++)
        {
            ct.ThrowIfCancellationRequested();
            var shop = shops[i];
            jobs.Schedule<MissedOrderSweep>(j => j.SweepOneAsync(shop, CancellationToken.None), spread * i / shops.Count);
        }
        LogFannedOut(shops.Count, spread.TotalSeconds);
    }

    /// <summary>One shop's sweep, as its own job; a failure is recorded and the next run starts from the same point.</summary>
    [AutomaticRetry(Attempts = 0)]
    public async Task SweepOneAsync(string shop, CancellationToken ct)
    {
        await using var lockConnection = await db.OpenConnectionAsync(ct);
        var state = await lockConnection.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT state FROM shops WHERE shop_domain = @shop", new { shop }, cancellationToken: ct));
        if (state != "installed") return; // uninstalled since the run was fanned out
        if (!await lockConnection.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(hashtextextended(@key, 0))",
                new { key = $"order-sweep:{shop}" }, cancellationToken: ct)))
        {
            LogUnderWay(shop);
            return;
        }
        try
        {
            await SweepShopAsync(shop, ct);
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
        {
            LogShopFailed(e, shop);
            await lockConnection.ExecuteAsync(new CommandDefinition("""
                INSERT INTO order_sweeps (shop_domain, swept_until, last_run_at, last_error)
                SELECT shop_domain, installed_at, now(), @error FROM shops WHERE shop_domain = @shop
                ON CONFLICT (shop_domain) DO UPDATE SET last_run_at = now(), last_error = excluded.last_error
                """, new { shop, error = e.Message }, cancellationToken: ct));
        }
        finally
        {
            await lockConnection.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock_all()", cancellationToken: CancellationToken.None));
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Missed-order sweep: {Shops} shops scheduled, spread over {SpreadSeconds} s")]
    private partial void LogFannedOut(int shops, double spreadSeconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "Missed-order sweep of {Shop} skipped: another sweep of it is under way")]
    private partial void LogUnderWay(string shop);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Missed-order sweep of {Shop} failed; the next run starts from the same point")]
    private partial void LogShopFailed(Exception e, string shop);
}
