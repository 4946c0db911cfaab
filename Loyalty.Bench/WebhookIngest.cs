using System.Collections.Concurrent;
using System.Diagnostics;
using Dapper;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// Signed <c>orders/paid</c> deliveries at rising rates against one instance: 30% are redeliveries of an earlier
/// delivery (a third of those sent at the same moment as the original), the rest new paid orders. Per rate:
/// achieved deliveries/s and acknowledgement latency; afterwards, once the inbox has drained, awards must
/// equal the distinct paid orders exactly. The database's own insert ceiling (pgbench) is measured in the same run.
/// </summary>
public static class WebhookIngest
{
    public sealed record Step(int TargetRate, double Achieved, int Sent, int Errors, double P50, double P99, double Max);

    /// <param name="processAfter">
    /// The measured instance only acknowledges (<c>Webhooks:ProcessingEnabled=false</c>, an intake tier); a second
    /// instance processes the inbox after the steps. Otherwise the one instance processes while it ingests.
    /// </param>
    public static async Task<int> RunAsync(int[] rates, int seconds, int seed, bool processAfter, bool durable, int warmupRate,
        CancellationToken ct)
    {
        ThreadPool.SetMinThreads(256, 256);
        await using var env = await BenchEnvironment.StartAsync(seed, durable, ct);
        var app = await env.StartAppAsync(new Dictionary<string, string>
        {
            ["Jobs:Schedules:missed-orders-sweep"] = "",
            ["Webhooks:ProcessingEnabled"] = processAfter ? "false" : "true",
        }, ct);
        await BenchEnvironment.InstallShopAsync(app, new { earnRate = 1m, earnBasis = "total" }, ct);
        Console.WriteLine($"# webhook ingest: rates {string.Join(",", rates)}/s, {seconds} s each, seed {seed}, " +
                          (processAfter ? "intake-only instance, processed afterwards by a second one" : "one instance ingesting and processing"));

        var ceiling = await PgBench.InsertCeilingAsync(env, Math.Max(3, seconds), clients: 8, ct);
        Console.WriteLine($"pgbench ceiling (one 1.5 kB insert per transaction, 8 clients): {Stats.F(ceiling, 0)} tps");

        var random = new Random(seed);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1024,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
        {
            Timeout = TimeSpan.FromSeconds(60),
        };
        var endpoint = new Uri(app.BaseUrl, "/webhooks");
        var deliveries = new List<(string Id, string Body, long Order)>();
        var lag = new AwardLag(env);
        var orders = new HashSet<long>();
        long nextOrder = 10_000_000;
        var results = new List<Step>();

        // Warm-up (JIT, connection pools, the database's caches) for as long as each rate: sent and checked like the rest, not
        // reported. The runtime tiers a method up only after it has been called often enough; a warm-up at the measured rate
        // (--warmup-rate) leaves less compilation inside the measurement.
        foreach (var (rate, warmup) in new[] { (warmupRate, true) }.Concat(rates.Select(r => (r, false))))
        {
            var stats = new Stats();
            var slow = new ConcurrentBag<(double SentAtMs, double Ms)>();
            var errors = 0;
            var total = rate * seconds;
            var tasks = new List<Task>(total);
            var clock = Stopwatch.StartNew();
            using var sampling = new CancellationTokenSource();
            var sampler = warmup ? Task.CompletedTask : lag.SampleBacklogAsync(rate, sampling.Token);
            var i = 0;
            while (i < total)
            {
                var due = Math.Min(total, (int)(clock.Elapsed.TotalMilliseconds * rate / 1000) + 1);
                for (; i < due; i++)
                {
                    (string Id, string Body, long Order) d;
                    var concurrent = false;
                    if (deliveries.Count > 0 && random.NextDouble() < 0.3)
                    {
                        d = deliveries[random.Next(deliveries.Count)];
                    }
                    else
                    {
                        var order = nextOrder++;
                        var amount = random.Next(5, 400);
                        d = (Guid.NewGuid().ToString(), ShopifyOutbound.PaidOrder(order, random.Next(1, 2001), amount, amount), order);
                        deliveries.Add(d);
                        orders.Add(order);
                        concurrent = random.NextDouble() < 0.3 * 0.33 / 0.7; // about a third of the duplicates: the original and its copy together
                    }
                    tasks.Add(SendAsync(d));
                    if (concurrent)
                    {
                        tasks.Add(SendAsync(d));
                        i++;
                    }
                }
                await Task.Delay(1, ct);
            }
            var sending = clock.Elapsed;
            await Task.WhenAll(tasks);
            var all = clock.Elapsed;
            await sampling.CancelAsync();
            await sampler;
            var step = new Step(rate, tasks.Count / Math.Max(sending.TotalSeconds, all.TotalSeconds - 0.05), tasks.Count, errors,
                stats.Percentile(50), stats.Percentile(99), stats.Max);
            if (!slow.IsEmpty)
            {
                // When the slow acknowledgements were sent: one cluster is a pause, a spread is queueing.
                var bySecond = slow.GroupBy(x => (int)(x.SentAtMs / 1000)).OrderBy(g => g.Key).Select(g => $"{g.Key}s:{g.Count()}");
                Console.WriteLine($"  acks over 200 ms by send second: {string.Join(" ", bySecond)}");
            }
            if (warmup)
            {
                Console.WriteLine($"warm-up at {rate}/s: ack p50 {Stats.F(step.P50)} ms, p99 {Stats.F(step.P99)} ms");
                // The measured step starts from an empty inbox: a warm-up faster than a cold processor leaves it no backlog.
                if (!processAfter) await DrainAsync(env, TimeSpan.FromMinutes(5), ct);
                await Task.Delay(2000, ct);
                continue;
            }
            results.Add(step);
            Console.WriteLine(
                $"rate {rate}/s: achieved {Stats.F(step.Achieved, 0)}/s, sent {step.Sent}, errors {errors}, ack p50 {Stats.F(step.P50)} ms, p99 " +
                $"{Stats.F(step.P99)} ms, max {Stats.F(step.Max)} ms");
            await Task.Delay(2000, ct); // let the processor catch up a little between steps

            async Task SendAsync((string Id, string Body, long Order) d)
            {
                using var request = ShopifyOutbound.Webhook(endpoint, "orders/paid", BenchEnvironment.Shop, d.Body, BenchEnvironment.ClientSecret,
                    d.Id);
                var sentAt = clock.Elapsed.TotalMilliseconds;
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.SendAsync(request, ct);
                    var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    stats.Add(ms);
                    if (ms > 200) slow.Add((sentAt, ms));
                    if ((int)response.StatusCode != 200) Interlocked.Increment(ref errors);
                    else if (!warmup) lag.Acknowledged(d.Order, rate);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }

        // Drain, then count: exactly one award per distinct paid order, none doubled.
        var ingestRss = app.PeakRssKb;
        if (processAfter) await env.StartAppAsync(new Dictionary<string, string> { ["Jobs:Schedules:missed-orders-sweep"] = "" }, ct);
        var drainStart = Stopwatch.StartNew();
        await DrainAsync(env, TimeSpan.FromMinutes(10), ct);
        await using var conn = env.Connection();
        var awards = await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE kind = 'order_award'");
        var doubled = await conn.ExecuteScalarAsync<long>(
            "SELECT count(*) FROM (SELECT order_id FROM point_transactions WHERE kind = 'order_award' GROUP BY order_id HAVING count(*) > 1) d");
        var failed = await conn.ExecuteScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE status NOT IN ('processed', 'skipped')");
        Console.WriteLine(
            $"drained in {Stats.F(drainStart.Elapsed.TotalSeconds)} s after the last step; distinct paid orders {orders.Count}, awards {awards}, " +
            $"doubled {doubled}, unprocessed {failed}");
        Console.WriteLine($"peak RSS of the ingesting app: {ingestRss / 1024} MiB");

        Console.WriteLine();
        Console.WriteLine("| target/s | achieved/s | deliveries | errors | ack p50 ms | ack p99 ms | ack max ms | % of pgbench ceiling |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var s in results)
        {
            Figures.Record($"webhooks.{s.TargetRate}.achieved_per_s", s.Achieved);
            Figures.Record($"webhooks.{s.TargetRate}.ack_p99_ms", s.P99);
            Console.WriteLine(
                $"| {s.TargetRate} | {Stats.F(s.Achieved, 0)} | {s.Sent} | {s.Errors} | {Stats.F(s.P50)} | {Stats.F(s.P99)} | {Stats.F(s.Max)} | " +
                $"{Stats.F(100 * s.Achieved / ceiling, 0)} % |");
        }
        Console.WriteLine();
        Console.WriteLine(
            "| target/s | orders awarded | delivery → award p50 ms | p99 ms | max ms | within 2 s | backlog max | backlog at step end |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|");
        foreach (var r in await lag.ReportAsync())
        {
            Figures.Record($"webhooks.{r.Step}.within_2s_percent", r.Within2s);
            Console.WriteLine($"| {r.Step} | {r.Awards} | {Stats.F(r.P50)} | {Stats.F(r.P99)} | {Stats.F(r.Max)} | {Stats.F(r.Within2s)} % | " +
                              $"{r.MaxBacklog} | {r.EndBacklog} |");
        }
        var ok = awards == orders.Count && doubled == 0 && failed == 0;
        Figures.Record("webhooks.peak_rss_kb", ingestRss);
        Figures.Record("webhooks.exact", ok ? 1 : 0);
        Console.WriteLine(ok ? "RESULT: every paid order awarded exactly once"
            : "RESULT: VIOLATION (awards != distinct orders, or doubled, or unprocessed)");
        return ok ? 0 : 1;
    }

    /// <summary>Waits until no delivery is pending or under way, or <paramref name="limit"/> has passed.</summary>
    private static async Task DrainAsync(BenchEnvironment env, TimeSpan limit, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit
               && await env.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing')") > 0)
        {
            await Task.Delay(500, ct);
        }
    }
}
