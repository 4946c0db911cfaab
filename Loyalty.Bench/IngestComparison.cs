using System.Diagnostics;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// Side by side in one run, on one database: PostgreSQL's own single-insert ceiling (pgbench), the Node peer
/// (<see cref="NodePeer"/>: Shopify's library, storing and awarding inline) and Loyalty, each sent the same pre-signed
/// <c>orders/paid</c> deliveries (30 % redeliveries of an earlier one) as fast as a fixed number of connections allow.
/// Per target: deliveries acknowledged per second, ack p50/p99/max, and awards per second from the first delivery to
/// the last award (the peer awards before it acknowledges; Loyalty acknowledges first and awards in the background).
/// Then, by the generator's own arithmetic: every distinct paid order awarded exactly once, with exactly its points.
/// </summary>
public static partial class IngestComparison
{
    private sealed record Delivery(string Id, string Body, long Order, long Points);

    private sealed record Outcome(string Name, int Sent, int Errors, double Seconds, Stats Acks, double AwardSeconds, long Awards, long Points,
        long RssKb);

    /// <param name="profile">Also reports CPU seconds per award (the server's, the database's, the sender's) and the database's statements.</param>
    /// <param name="httpClientSender">Send through HttpClient, signing each request as it goes (the sender before 2026-12-06), instead
    /// of <see cref="RawHttpSender"/>'s requests rendered beforehand.</param>
    /// <param name="floor">Also the award's floor (<see cref="WebhookFloor"/>), after Loyalty.</param>
    /// <param name="ledgerFloors">Also the award's floor with the app's ledger (<see cref="WebhookLedgerFloor"/>) in these modes, last.</param>
    public static async Task<int> RunAsync(int count, int connections, int seed, bool durable, bool profile, int warmupCount,
        bool httpClientSender, CancellationToken ct, bool floor = false, IReadOnlyList<string>? ledgerFloors = null)
    {
        ThreadPool.SetMinThreads(256, 256);
        await using var env = await BenchEnvironment.StartAsync(seed, durable, ct, profile);
        var app = await env.StartAppAsync(new Dictionary<string, string> { ["Jobs:Schedules:missed-orders-sweep"] = "" }, ct);
        await BenchEnvironment.InstallShopAsync(app, new { earnRate = 1m, earnBasis = "total" }, ct);
        await using var peer = await NodePeer.StartAsync(env, ct);
        var floorServer = !floor ? null : await env.StartFloorAsync(new Dictionary<string, string>
        {
            ["Floor:WebhookSecret"] = BenchEnvironment.ClientSecret, ["Floor:Db"] = env.ConnectionString,
        }, ct);
        var ledgerFloorServers = new List<(string Mode, AppInstance Server)>();
        foreach (var mode in ledgerFloors ?? [])
        {
            await WebhookLedgerFloor.PrepareShopAsync(env, mode, ct);
            ledgerFloorServers.Add((mode, await env.StartFloorAsync(new Dictionary<string, string>
            {
                ["Floor:WebhookSecret"] = BenchEnvironment.ClientSecret, ["Floor:Db"] = env.ConnectionString, ["Floor:Ledger"] = mode,
            }, ct)));
        }
        Console.WriteLine($"# webhook ingest compared: {count} deliveries (30 % redeliveries), {connections} connections, seed {seed}, " +
                          (httpClientSender ? "sent through HttpClient, signed as sent" : "pre-signed and rendered, sent as raw HTTP/1.1"));

        var ceiling = await PgBench.InsertCeilingAsync(env, 10, clients: 8, ct);
        Console.WriteLine($"pgbench ceiling (one 1.5 kB insert per transaction, 8 clients): {Stats.F(ceiling, 0)} tps");

        var random = new Random(seed);
        var warmup = Deliveries(random, warmupCount, firstOrder: 1_000_000);
        var measured = Deliveries(random, count, firstOrder: 10_000_000);
        var orders = measured.GroupBy(d => d.Order).ToDictionary(g => g.Key, g => g.First().Points);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = connections }) { Timeout = TimeSpan.FromSeconds(60) };

        var outcomes = new List<Outcome>();
        Task<(Stats, int)> SendAsync(Uri endpoint, List<Delivery> deliveries) => httpClientSender
            ? SendAllAsync(http, endpoint, deliveries, connections, ct)
            : RawHttpSender.SendAllAsync(endpoint, Render(endpoint, deliveries), connections, ct);
        var targets = new List<(string Name, Uri BaseUrl, Awards Awards)>
        {
            ("Node peer (@shopify/shopify-api + express + pg)", peer.BaseUrl, Awards.Table("peer_awards")),
        };
        targets.Add(("Loyalty (one instance)", app.BaseUrl, Awards.Ledger(BenchEnvironment.Shop, inline: false)));
        // Last, so Loyalty runs where it always ran (after the peer): the floor's rows do not change what PostgreSQL's autovacuum
        // does during Loyalty's phase.
        if (floorServer is not null) targets.Add(("Floor (.NET, group-committed, awards inline)", floorServer.BaseUrl, Awards.Table("floor_awards")));
        foreach (var (mode, server) in ledgerFloorServers)
        {
            targets.Add((mode == WebhookLedgerFloor.AtIntake
                ? "Ledger floor at intake (.NET, the app's ledger, awarded before the answer)"
                : "Ledger floor after intake (.NET, the app's ledger, awarded after the answer)", server.BaseUrl,
                Awards.Ledger(WebhookLedgerFloor.Shop(mode), inline: mode == WebhookLedgerFloor.AtIntake)));
        }
        AppInstance ServerOf(Uri baseUrl) => baseUrl == floorServer?.BaseUrl ? floorServer
            : ledgerFloorServers.FirstOrDefault(s => s.Server.BaseUrl == baseUrl).Server ?? app;
        foreach (var (name, baseUrl, awardsOf) in targets)
        {
            var isPeer = baseUrl == peer.BaseUrl;
            var endpoint = new Uri(baseUrl, "/webhooks");
            await SendAsync(endpoint, warmup);
            await WaitForAwardsAsync(env, awardsOf, 1_000_000, warmup.Select(d => d.Order).Distinct().Count(), TimeSpan.FromMinutes(5), ct);

            // Rendered before the clock starts, as wrk's requests are: the phase measures the targets, not the sender's signing.
            var rendered = httpClientSender ? null : Render(endpoint, measured);
            if (profile) await CpuProfile.ResetStatementsAsync(env);
            var pid = isPeer ? peer.Pid : ServerOf(baseUrl).Pid;
            var postmaster = CpuProfile.PostmasterPid(env);
            var (serverCpu, databaseCpu) = (CpuProfile.ProcessSeconds(pid), CpuProfile.PostgresSeconds(postmaster));
            var senderCpu = CpuProfile.OwnSeconds(Environment.ProcessId);
            var switchesBefore = (Server: CpuProfile.ContextSwitches(pid), Database: CpuProfile.PostgresContextSwitches(postmaster),
                Sender: CpuProfile.ContextSwitches(Environment.ProcessId));
            var perf = PerfRecording.Start(pid, isPeer ? "peer" : "loyalty");
            var clock = Stopwatch.StartNew();
            var (acks, errors) = rendered is null ? await SendAllAsync(http, endpoint, measured, connections, ct)
                : await RawHttpSender.SendAllAsync(endpoint, rendered, connections, ct);
            var sent = clock.Elapsed.TotalSeconds;
            await WaitForAwardsAsync(env, awardsOf, 10_000_000, orders.Count, TimeSpan.FromMinutes(10), ct);
            var awarded = clock.Elapsed.TotalSeconds;
            await perf.DisposeAsync();
            serverCpu = CpuProfile.ProcessSeconds(pid) - serverCpu;
            databaseCpu = CpuProfile.PostgresSeconds(postmaster) - databaseCpu;
            senderCpu = CpuProfile.OwnSeconds(Environment.ProcessId) - senderCpu;
            var switches = (Server: CpuProfile.SwitchesBetween(switchesBefore.Server, CpuProfile.ContextSwitches(pid)),
                Database: CpuProfile.SwitchesBetween(switchesBefore.Database, CpuProfile.PostgresContextSwitches(postmaster)),
                Sender: CpuProfile.SwitchesBetween(switchesBefore.Sender, CpuProfile.ContextSwitches(Environment.ProcessId)));
            var (awards, points) = await AwardsAsync(env, awardsOf, 10_000_000, ct);
            if (profile)
            {
                Console.WriteLine($"# {name}: CPU per award {Stats.F(serverCpu * 1000 / orders.Count, 2)} ms in the server, " +
                                  $"{Stats.F(databaseCpu * 1000 / orders.Count, 2)} ms in PostgreSQL, " +
                                  $"{Stats.F(senderCpu * 1000 / orders.Count, 2)} ms in the bench's own sender " +
                                  "(from /proc; the whole phase, " +
                                  $"{Stats.F(awarded, 2)} s; {Stats.F(sent, 2)} s sending)");
                Console.WriteLine($"# {name}: context switches per award " +
                                  $"{Stats.F((double)switches.Server.Switches / orders.Count, 1)} in the server, " +
                                  $"{Stats.F((double)switches.Database.Switches / orders.Count, 1)} in PostgreSQL, " +
                                  $"{Stats.F((double)switches.Sender.Switches / orders.Count, 1)} in the bench's own sender " +
                                  "(from /proc; threads that " +
                                  $"ended in the phase, their switches not counted: {switches.Server.Ended}, {switches.Database.Ended}, " +
                                  $"{switches.Sender.Ended})");
                await CpuProfile.PrintTopStatementsAsync(env, name, orders.Count, top: 25);
            }
            var outcome = new Outcome(name, measured.Count, errors, sent, acks, awarded, awards, points,
                isPeer ? peer.PeakRssKb : ServerOf(baseUrl).PeakRssKb);
            outcomes.Add(outcome);
            Console.WriteLine($"{name}: {Stats.F(outcome.Sent / outcome.Seconds, 0)} acks/s, p99 {Stats.F(acks.Percentile(99))} ms, " +
                              $"awards/s {Stats.F(orders.Count / awarded, 0)}, {errors} errors");
        }

        Console.WriteLine();
        Console.WriteLine(
            "| | deliveries acknowledged/s | ack p50 ms | ack p99 ms | ack max ms | awards/s, first delivery → last award | peak RSS |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|---:|");
        Console.WriteLine($"| PostgreSQL alone (pgbench, one INSERT per transaction, 8 clients) | {Stats.F(ceiling, 0)} | | | | | |");
        foreach (var o in outcomes)
        {
            Console.WriteLine(
                $"| {o.Name} | {Stats.F(o.Sent / o.Seconds, 0)} | {Stats.F(o.Acks.Percentile(50))} | {Stats.F(o.Acks.Percentile(99))} | " +
                              $"{Stats.F(o.Acks.Max)} | {Stats.F(orders.Count / o.AwardSeconds, 0)} | {o.RssKb / 1024} MiB |");
        }

        var expectedPoints = orders.Values.Sum();
        var ok = orders.Count > 0; // a run that sent no order proves nothing
        if (!ok) Console.WriteLine("no paid order was sent: nothing was compared");
        foreach (var o in outcomes)
        {
            var exact = o.Errors == 0 && o.Awards == orders.Count && o.Points == expectedPoints;
            ok &= exact;
            Console.WriteLine($"{o.Name}: {o.Awards} awards for {orders.Count} distinct paid orders, {o.Points} points of {expectedPoints} " +
                              $"(the generator's sum), {o.Errors} errors: {(exact ? "exact" : "VIOLATION")}");
        }
        Console.WriteLine(!ok ? "RESULT: VIOLATION"
            : "RESULT: every paid order awarded exactly once, with its points, by "
              + (outcomes.Count == 2 ? "both" : $"all {Words(outcomes.Count)}"));
        Figures.Record("compare.pgbench_tps", ceiling);
        foreach (var o in outcomes)
        {
            var side = o.Name.StartsWith("Loyalty", StringComparison.Ordinal) ? "loyalty"
                : o.Name.StartsWith("Floor", StringComparison.Ordinal) ? "floor"
                : o.Name.StartsWith("Ledger floor at", StringComparison.Ordinal) ? "ledger_floor_at_intake"
                : o.Name.StartsWith("Ledger floor after", StringComparison.Ordinal) ? "ledger_floor_after_intake" : "node";
            Figures.Record($"compare.{side}.acks_per_s", o.Sent / o.Seconds);
            Figures.Record($"compare.{side}.awards_per_s", orders.Count / o.AwardSeconds);
            Figures.Record($"compare.{side}.peak_rss_kb", o.RssKb);
        }
        Figures.Record("compare.exact", ok ? 1 : 0);
        return ok ? 0 : 1;
    }

    /// <summary>New paid orders, and 30 % redeliveries of an earlier delivery (same id and body, as Shopify resends them).</summary>
    private static List<Delivery> Deliveries(Random random, int count, long firstOrder)
    {
        var list = new List<Delivery>(count);
        var next = firstOrder;
        while (list.Count < count)
        {
            if (list.Count > 0 && random.NextDouble() < 0.3)
            {
                list.Add(list[random.Next(list.Count)]);
                continue;
            }
            var amount = random.Next(5, 400);
            var order = next++;
            list.Add(new Delivery(Guid.NewGuid().ToString(), ShopifyOutbound.PaidOrder(order, random.Next(1, 2001), amount, amount), order, amount));
        }
        return list;
    }

    /// <summary>Each delivery as Shopify sends it (<see cref="ShopifyOutbound.Webhook"/>), signed and rendered to bytes.</summary>
    private static List<byte[]> Render(Uri endpoint, List<Delivery> deliveries) =>
        [.. deliveries.Select(d =>
        {
            using var request = ShopifyOutbound.Webhook(endpoint, "orders/paid", BenchEnvironment.Shop, d.Body, BenchEnvironment.ClientSecret, d.Id);
            return RawHttpSender.Render(request);
        })];

    /// <summary>Every delivery in order, through <paramref name="connections"/> concurrent senders (a closed loop, like wrk).</summary>
    private static async Task<(Stats Acks, int Errors)> SendAllAsync(HttpClient http, Uri endpoint, List<Delivery> deliveries, int connections,
        CancellationToken ct)
    {
        var stats = new Stats();
        var errors = 0;
        var next = -1;
        await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
        {
            for (var i = Interlocked.Increment(ref next); i < deliveries.Count; i = Interlocked.Increment(ref next))
            {
                var d = deliveries[i];
                using var request = ShopifyOutbound.Webhook(endpoint, "orders/paid", BenchEnvironment.Shop, d.Body, BenchEnvironment.ClientSecret,
                    d.Id);
                var started = Stopwatch.GetTimestamp();
                try
                {
                    using var response = await http.SendAsync(request, ct);
                    stats.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                    if ((int)response.StatusCode != 200) Interlocked.Increment(ref errors);
                }
                catch (HttpRequestException)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }, ct)));
        return (stats, errors);
    }
}
