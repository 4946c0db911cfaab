using System.Diagnostics;

namespace Loyalty.Bench;

/// <summary>
/// The soak's load: the seeded schedule run with the faults on, app instances SIGKILLed and restarted and PostgreSQL
/// stopped mid-run, balance-source switches attempted while a conversion is held, and the merchant's earn-rate change
/// once every order before it has been awarded.
/// </summary>
public static partial class Soak
{
    /// <summary>Runs the load; the merchant's mid-run earn-rate change as answered (status and problem code).</summary>
    private static async Task<(int Status, string? Code)> LoadAsync(Options o, Random random, BenchEnvironment env, SoakClient client,
        SoakRecord record, List<long> customers, long witness, CancellationToken ct)
    {
        var shuffled = SoakSchedule.Build(o, random, customers, client, record, ct);
        var killTimes = Enumerable.Range(0, o.Kills).Select(_ => random.NextDouble()).Order().ToList();
        var killTargets = Enumerable.Range(0, o.Kills).Select(_ => random.Next(o.Instances)).ToList();

        // Faults on.
        env.Pos.FaultRate = o.FaultRate;
        env.Pos.SlowDelay = TimeSpan.FromSeconds(1.5);
        env.Shopify.FaultRate = o.FaultRate;

        var load = Stopwatch.StartNew();
        var done = 0;
        var killer = Task.Run(async () =>
        {
            for (var k = 0; k < killTimes.Count; k++)
            {
                while (Volatile.Read(ref done) < killTimes[k] * shuffled.Count) await Task.Delay(50, ct);
                var app = env.Apps[killTargets[k]];
                Console.WriteLine($"  [{load.Elapsed:mm\\:ss}] SIGKILL app {app.Number} after {Volatile.Read(ref done)} operations");
                app.Kill();
                await Task.Delay(random.Next(500, 2000), ct);
                await app.StartAsync(ct);
                Console.WriteLine($"  [{load.Elapsed:mm\\:ss}] app {app.Number} restarted");
            }
        }, ct);
        // The database goes away for several seconds mid-run (a failover, a restart): nothing may be lost or doubled.
        var restartAt = Enumerable.Range(0, o.PostgresRestarts).Select(i => (i + 0.5) / o.PostgresRestarts).ToList();
        var restarter = Task.Run(async () =>
        {
            foreach (var at in restartAt)
            {
                while (Volatile.Read(ref done) < at * shuffled.Count) await Task.Delay(50, ct);
                // A fast shutdown: every connection is cut and open transactions roll back. (Not "immediate": the bench's
                // server runs with synchronous_commit off, which would lose commits no production server loses.)
                Console.WriteLine($"  [{load.Elapsed:mm\\:ss}] PostgreSQL stopped after {Volatile.Read(ref done)} operations");
                await env.Postgres.StopAsync();
                await Task.Delay(TimeSpan.FromSeconds(o.PostgresDownSeconds), ct);
                await env.Postgres.StartAsync(ct);
                Npgsql.NpgsqlConnection.ClearAllPools(); // the bench's own idle connections died with the server (the apps find theirs broken on use)
                Console.WriteLine($"  [{load.Elapsed:mm\\:ss}] PostgreSQL started again");
            }
        }, ct);
        var switches = SoakSwitchAttempts.Start(o, random, env, client, record, witness, shuffled.Count, () => Volatile.Read(ref done), ct);
        async Task RunAsync(IEnumerable<Func<Task>> ops) =>
            await Parallel.ForEachAsync(ops, new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency, CancellationToken = ct }, async (op, _) =>
            {
                await op();
                var n = Interlocked.Increment(ref done);
                if (n % 1000 == 0) Console.WriteLine($"  [{load.Elapsed:mm\\:ss}] {n}/{shuffled.Count} operations");
            });
        var split = (int)(shuffled.Count * RateChangeAt);
        await RunAsync(shuffled.Take(split));
        // The merchant changes the earn rate once every order paid so far has been awarded (webhooks processed, the lost
        // ones swept): each order's rate is then known to the generator, and the orders after it earn at the new one.
        var barrier = DateTimeOffset.UtcNow;
        var awarded = await WaitAsync(async () => await env.ScalarAsync<long>(
            "SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing')") == 0
                                                   && await env.ScalarAsync<bool>("SELECT coalesce(max(swept_until) >= @at, false) FROM order_sweeps",
                                                       new { at = barrier.AddSeconds(1) }),
            TimeSpan.FromMinutes(5), ct);
        var rateChange = awarded ? await client.PutSettingsAsync(new { earnRate = SecondEarnRate }, ct)
            : (Status: 0, Code: "orders before it never all awarded");
        if (rateChange.Status == 200) record.EarnRate = SecondEarnRate;
        Console.WriteLine(
            $"  [{load.Elapsed:mm\\:ss}] earn rate {FirstEarnRate} → {SecondEarnRate}: {rateChange.Status} {rateChange.Code} " +
            $"({(DateTimeOffset.UtcNow - barrier).TotalSeconds:F0} s for the orders before it to be awarded)");
        await RunAsync(shuffled.Skip(split));
        await killer;
        await restarter;
        await switches;
        Console.WriteLine(
            $"load done in {load.Elapsed.TotalSeconds:F0} s: {record.Requests} requests, {record.TransportRetries} resent after a lost connection, " +
                          $"{record.Responses5xx} 5xx answers, POS calls {env.Pos.Requests}");
        return rateChange;
    }
}
