using System.Diagnostics;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// The seeded soak: many customers, thousands of conversions (a few customers hammered concurrently, some
/// requests replayed with the same idempotency key, some coupons cancelled, some used at checkout and then
/// cancelled, some cancelled while a checkout uses them), thousands of webhook deliveries (duplicates, out of
/// order, refunds, cancellations, orders naming a loyalty code, some lost for the missed-order sweep to find), a
/// share of POS and Shopify calls failing every way the simulators can, two app instances on one database,
/// SIGKILLed and restarted during the run; once per balance mode (the ledger, and the POS as authority). Then the
/// faults stop, everything settles, the customers come back to their pages, and <see cref="SoakChecker"/> judges the
/// simulators' records against the generator's own <see cref="SoakRecord"/>. The seed fixes the schedule
/// (operations, customers, amounts, kill times) and the simulators' fault draws; thread interleaving is the machine's.
/// </summary>
public static class Soak
{
    public sealed record Options(int Seed, int Conversions, int Customers, int Orders, int Kills, int Instances, double FaultRate, string? Broken,
        int Concurrency, IReadOnlyList<string> Modes, int PostgresRestarts = 1, double PostgresDownSeconds = 5);

    /// <summary>The shop's earn rate when the run starts, and after the merchant changes it a third of the way through.</summary>
    public const decimal FirstEarnRate = 1.5m, SecondEarnRate = 2.25m;

    /// <summary>Where in the load the merchant changes the earn rate (every order before it awarded first).</summary>
    public const double RateChangeAt = 0.35;

    /// <summary>The app's Conversion:MetafieldMaxEntries, set for the run (the checker knows the bound it must see).</summary>
    public const int MetafieldMaxEntries = 50;

    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        ThreadPool.SetMinThreads(128, 128);
        var total = 0;
        var quiescence = new List<string>();
        foreach (var mode in o.Modes)
        {
            var (violations, quiet) = await RunModeAsync(o, mode, ct);
            total += violations;
            quiescence.Add($"{mode} {quiet.TotalSeconds:F1} s");
        }
        Console.WriteLine($"RESULT: {total} violations (seed {o.Seed}, modes {string.Join("+", o.Modes)}, quiescence {string.Join(", ", quiescence)})");
        return total == 0 ? 0 : 1;
    }

    private static async Task<(int Violations, TimeSpan Quiescence)> RunModeAsync(Options o, string mode, CancellationToken ct)
    {
        Console.WriteLine($"# soak ({mode} mode): seed {o.Seed}, {o.Conversions} conversions, {o.Customers} customers, {o.Orders} orders, {o.Instances} instances, " +
                          $"{o.Kills} kills, {o.PostgresRestarts} PostgreSQL restarts ({o.PostgresDownSeconds:0.#} s down), fault rate {o.FaultRate}" +
                          $"{(o.Broken is null ? "" : $", BROKEN variant {o.Broken}")}");
        var random = new Random(o.Seed);
        await using var env = await BenchEnvironment.StartAsync(o.Seed, ct);
        for (var i = 0; i < o.Instances; i++) await env.StartAppAsync(AppSettings, ct);
        // Ledger mode lets a clawback go below zero, so the balance is exact arithmetic whatever the interleaving; the POS
        // refuses to go below zero, so POS mode floors clawbacks and the checker compares only balances that cannot reach zero.
        await env.InstallShopAsync(env.Apps[0], mode == "pos"
            ? new
            {
                balanceSource = "pos", posBaseUrl = env.Pos.BaseUrl.ToString(), posApiKey = env.Pos.ApiKey, earnRate = FirstEarnRate, earnBasis = "total",
                pointValue = 0.01m, minConversion = 100, conversionStep = 100, dailyConversionLimit = 100_000_000, negativeBalancePolicy = "floor_at_zero",
            }
            : (object)new
            {
                balanceSource = "ledger", earnRate = FirstEarnRate, earnBasis = "total", pointValue = 0.01m, minConversion = 100, conversionStep = 100,
                dailyConversionLimit = 100_000_000, negativeBalancePolicy = "allow_negative",
            }, ct);

        var record = new SoakRecord(mode) { EarnRate = FirstEarnRate };
        var client = new SoakClient(env, record);

        // Opening balances: a bonus per customer through the admin API, synced to the POS (in POS mode) before the load
        // starts. The last customer is the witness of the balance-source switch attempts. In POS mode a few customers
        // are unknown to the POS until the merchant creates them there after the run: every change of theirs is refused.
        var customers = Enumerable.Range(1, o.Customers).Select(i => 900_000L + i).ToList();
        var witness = customers[^1];
        var hotCount = Math.Max(2, o.Customers / 20);
        if (record.PosMode)
        {
            foreach (var c in customers.Skip(hotCount).SkipLast(1).OrderBy(_ => random.Next()).Take(Math.Max(2, o.Customers / 30))) record.UnknownToPos.Add(c);
        }
        foreach (var c in customers)
        {
            var opening = c == witness ? 100_000L : random.Next(100, 300) * 100L;
            record.Opening[c] = opening;
            if (!record.UnknownToPos.Contains(c)) env.Pos.SetBalance(c.ToString(), 0);
            if ((int)await client.AdjustAsync(c, opening, $"opening-{c}", "Soak opening balance", ct) >= 300) throw new InvalidOperationException($"Opening balance of {c} refused.");
        }
        if (!await WaitAsync(async () => await env.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE state = 'pending'") == 0, ct, TimeSpan.FromMinutes(3)))
        {
            throw new TimeoutException("The opening balances did not reach the POS.");
        }

        record.Demand.AddOrUpdate(witness, 3 * 100L * SoakSwitchAttempts.PerMode, (_, d) => d + 3 * 100L * SoakSwitchAttempts.PerMode);
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
        var awarded = await WaitAsync(async () => await env.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing')") == 0
                                                   && await env.ScalarAsync<bool>("SELECT coalesce(max(swept_until) >= @at, false) FROM order_sweeps", new { at = barrier.AddSeconds(1) }),
            ct, TimeSpan.FromMinutes(5));
        var rateChange = awarded ? await client.PutSettingsAsync(new { earnRate = SecondEarnRate }, ct) : (Status: 0, Code: "orders before it never all awarded");
        if (rateChange.Status == 200) record.EarnRate = SecondEarnRate;
        Console.WriteLine($"  [{load.Elapsed:mm\\:ss}] earn rate {FirstEarnRate} → {SecondEarnRate}: {rateChange.Status} {rateChange.Code} ({(DateTimeOffset.UtcNow - barrier).TotalSeconds:F0} s for the orders before it to be awarded)");
        await RunAsync(shuffled.Skip(split));
        await killer;
        await restarter;
        await switches;
        Console.WriteLine($"load done in {load.Elapsed.TotalSeconds:F0} s: {record.Requests} requests, {record.TransportRetries} resent after a lost connection, " +
                          $"{record.Responses5xx} 5xx answers, POS calls {env.Pos.Requests}");

        // Faults off; everything must settle by itself, the sweep included (it finds the orders whose webhooks were lost).
        env.Pos.FaultRate = 0;
        env.Shopify.FaultRate = 0;
        var lastLost = DateTimeOffset.UtcNow;
        var quiet = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var settled = await WaitAsync(async () =>
        {
            var swept = await env.ScalarAsync<bool>("SELECT coalesce(max(swept_until) >= @at, false) FROM order_sweeps", new { at = lastLost.AddSeconds(1) });
            if (swept && await SoakChecker.InFlightAsync(env) == 0) return true;
            if (quiet.Elapsed - lastReport > TimeSpan.FromSeconds(15))
            {
                lastReport = quiet.Elapsed;
                Console.WriteLine($"  [+{quiet.Elapsed.TotalSeconds:F0} s] still in flight: {await SoakChecker.DescribeInFlightAsync(env)}{(swept ? "" : ", the sweep has not caught up")}");
            }
            return false;
        }, ct, TimeSpan.FromMinutes(10));
        var quiescence = quiet.Elapsed;
        var stuck = settled ? null
            : $"{await SoakChecker.DescribeInFlightAsync(env)}; the missed-order sweep {(await env.ScalarAsync<bool>("SELECT coalesce(max(swept_until) >= @at, false) FROM order_sweeps", new { at = lastLost.AddSeconds(1) }) ? "caught up" : "never swept past the end of the load (its Hangfire lock held by a killed instance?)")}";
        Console.WriteLine(settled ? $"quiescent {quiescence.TotalSeconds:F1} s after the faults stopped" : $"NOT quiescent after {quiescence.TotalSeconds:F0} s: {stuck}");

        // The customers come back: a conversion they left while it was processing, a cancellation answered 202.
        foreach (var (id, customer) in record.Unsettled.ToList()) await client.PollAsync(id, customer, TimeSpan.FromSeconds(2), ct, "when the customer came back");
        foreach (var c in record.Cancels.Values.Where(c => c.Outcome == "pending").ToList())
        {
            await client.CancelAsync(record.Codes[c.Code], c.AfterRedeem, c.Raced, ct, attempts: 3);
        }

        // The merchant resolves the refusals of customers the POS did not know: creates them there, retries their changes.
        if (record.UnknownToPos.Count > 0) await ResolveUnknownCustomersAsync(env, client, record, ct);

        // A broken variant acts on the settled system, so what the checker finds is the bug's doing alone.
        if (o.Broken is { } broken)
        {
            await SoakBreakage.BreakAsync(broken, env, client, record, ct);
            await Task.Delay(500, ct); // what the tampering set off (a POS sync of an adjustment) is under way before the check starts
            await WaitAsync(async () => await SoakChecker.InFlightAsync(env) == 0, ct, TimeSpan.FromMinutes(1));
        }

        var verdict = await SoakChecker.CheckAsync(env, client, record, ct);
        if (rateChange.Status != 200) verdict.Add("rate change", 1, [$"the mid-run earn rate change did not happen: {rateChange.Status} {rateChange.Code}"]);
        if (stuck is not null) verdict.Add("quiescence", 1, [$"not quiescent 10 minutes after the faults stopped: {stuck}"]);
        await SoakReport.PrintAsync(env, record, verdict, ct);
        Console.WriteLine($"mode {mode}: {verdict.Violations} violations");
        return (verdict.Violations, quiescence);
    }

    private static async Task ResolveUnknownCustomersAsync(BenchEnvironment env, SoakClient client, SoakRecord record, CancellationToken ct)
    {
        foreach (var c in record.UnknownToPos) env.Pos.SetBalance(c.ToString(), 0);
        var refused = new List<long>();
        for (long? before = null; ;)
        {
            var page = await client.AdminGetAsync($"/api/admin/pos-sync?state=refused&limit=200{(before is null ? "" : $"&before={before}")}", ct);
            var items = page.EnumerateArray().ToList();
            refused.AddRange(items.Where(i => record.UnknownToPos.Contains(i.GetProperty("customerId").GetInt64())).Select(i => i.GetProperty("id").GetInt64()));
            if (items.Count < 200) break;
            before = items[^1].GetProperty("id").GetInt64();
        }
        foreach (var id in refused.Order())
        {
            var status = await client.RetryPosChangeAsync(id, ct);
            record.Count(status is >= 200 and < 300 ? "POS refusal resolved: the customer created at the POS, the change retried" : $"POS refusal retry answered {status}");
        }
        if (!await WaitAsync(async () => await SoakChecker.InFlightAsync(env) == 0, ct, TimeSpan.FromMinutes(2)))
        {
            Console.WriteLine($"the retried POS changes did not all settle: {await SoakChecker.DescribeInFlightAsync(env)}");
        }
    }

    private static readonly Dictionary<string, string> AppSettings = new()
    {
        ["Jobs:SchedulePollIntervalMs"] = "1000",
        ["Jobs:QueuePollIntervalMs"] = "200",
        ["Jobs:Schedules:conversion-reconciler"] = "*/2 * * * * *",
        ["Jobs:Schedules:pos-sync"] = "*/2 * * * * *",
        ["Jobs:Schedules:donation-settler"] = "",
        ["Jobs:Schedules:event-delivery"] = "",
        ["Jobs:Schedules:missed-orders-sweep"] = "*/3 * * * * *",
        ["Conversion:SettleAfterSeconds"] = "3",
        ["Conversion:RetryDelaySeconds"] = "1",
        ["Conversion:PendingTimeoutSeconds"] = "5",
        ["Conversion:LeaseSeconds"] = "15",
        ["Conversion:MetafieldAttempts"] = "8",
        ["Pos:AttemptTimeoutSeconds"] = "1",
        ["Pos:TotalTimeoutSeconds"] = "4",
        ["Pos:RetryBaseDelayMs"] = "50",
        ["Pos:CircuitMinimumThroughput"] = "100000", // the breaker would only hide the faults this run is about
        ["PosSync:RetryBaseDelaySeconds"] = "0.5",
        ["PosSync:MaxRetryDelaySeconds"] = "3",
        ["PosSync:MaxAttempts"] = "1000",
        ["PosSync:LeaseSeconds"] = "20", // after a SIGKILL, claimed changes wait out the lease (120 s by default)
        ["Webhooks:PollIntervalMs"] = "100",
        ["Webhooks:RetryBaseDelaySeconds"] = "0.5",
        ["Webhooks:MaxRetryDelaySeconds"] = "3",
        ["Webhooks:MaxAttempts"] = "1000",
        ["Webhooks:LeaseSeconds"] = "15",
        ["Conversion:MetafieldLateWriteSeconds"] = "5", // the simulator applies a late write 2 s after its 500
        ["Conversion:MetafieldMaxEntries"] = MetafieldMaxEntries.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Jobs:DistributedLockTimeoutSeconds"] = "20", // a job lock left by a SIGKILLed instance (the sweep's) is abandoned after 20 s
        ["Shopify:GraphQLRetryBaseDelayMs"] = "50",
        // The load generator is many customers of one shop, a few hammered concurrently: the storefront's rate limits would
        // turn its load into 429s, which is not what this run is about.
        ["Storefront:CustomerRequestLimit"] = "10000000",
        ["Storefront:ShopRequestLimit"] = "10000000",
    };

    public static async Task<bool> WaitAsync(Func<Task<bool>> condition, CancellationToken ct, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) return false;
            await Task.Delay(250, ct);
        }
        return true;
    }
}
