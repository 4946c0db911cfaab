using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// Conversions against one instance with the simulators adding realistic latency (POS 40 ms, Shopify 120 ms per
/// call). Phase 1, per concurrency level: conversions/s, latency, and the time the app adds on top of the external
/// calls it made. Phase 2: Shopify's cost-based throttle on (a leaky bucket per shop): conversions/s against the
/// ceiling the bucket allows, and whether any customer saw a throttling error. With <c>--floor calls|commits|minimal</c> phase 1 runs
/// against <see cref="FloorServer"/> instead of the app (the same calls, with <c>commits</c> the saga's durable writes, with
/// <c>minimal</c> only the two the answer must wait for, and nothing else): what no implementation avoids on this machine.
/// </summary>
public static partial class ConversionLoad
{
    private const int PosMs = 40, ShopifyMs = 120;

    /// <param name="warmupSeconds">
    /// Conversions at concurrency 8 before the measured levels, not counted. A cold app spends its first minute compiling (25 s
    /// after start it still tiers up thousands of methods every 5 s), which a short warm-up left in the first levels' figures.
    /// </param>
    public static async Task<int> RunAsync(int[] levels, int seconds, int throttleSeconds, int throttleLevel, int bucketSize, int seed,
        bool durable, int warmupSeconds, CancellationToken ct, bool profile = false, bool inStep = false, bool timeline = false,
        string? floor = null)
    {
        ThreadPool.SetMinThreads(128, 128);
        await using var env = await BenchEnvironment.StartAsync(seed, durable, ct, profile);
        await using var spans = timeline ? await SpanTimeline.StartAsync(ct) : null;
        var traces = spans is null ? new Dictionary<string, string>() : new Dictionary<string, string>
        {
            // The app's spans to this process (--timeline), exported within a second.
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = spans.Endpoint, ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
            ["OTEL_BSP_SCHEDULE_DELAY"] = "1000", ["OTEL_BSP_MAX_QUEUE_SIZE"] = "200000", ["Telemetry:Metrics"] = "false",
        };
        var app = floor is null ? await StartAppAsync(env, traces, ct) : await StartFloorAsync(env, floor, ct);
        for (var c = 1; c <= 5000; c++) env.Pos.SetBalance((800_000 + c).ToString(), 1_000_000_000);
        env.Pos.Latency = TimeSpan.FromMilliseconds(PosMs);
        env.Pos.Served.RecordCalls = env.Shopify.Served.RecordCalls = true; // each conversion's wait on them (ServedTime.Covered)
        env.Shopify.Latency = TimeSpan.FromMilliseconds(ShopifyMs);
        Console.WriteLine($"# conversions: POS {PosMs} ms, Shopify {ShopifyMs} ms per call, levels {string.Join(",", levels)}, {seconds} s each, " +
                          $"after {warmupSeconds} s of warm-up, seed {seed}, " +
                          (inStep ? "every level's workers starting at once (--in-step)"
                              : "each worker starting at a random point of the first 440 ms"));

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512 }) { BaseAddress = app.BaseUrl,
            Timeout = TimeSpan.FromSeconds(120) };
        var nextCustomer = 0;
        var answered = 0; // conversions answered with a code, in every level and the warm-up
        var failedAnswers = 0;
        await RunLevelAsync(8, warmupSeconds, warmup: true); // JIT and tiering, pools
        var rows = new List<string>();
        var cpu = new List<string>();
        var postmaster = CpuProfile.PostmasterPid(env);
        foreach (var level in levels)
        {
            if (profile) await CpuProfile.ResetStatementsAsync(env);
            var started = nextCustomer;
            var since = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000_000;
            var (appCpu, postgresCpu) = (CpuProfile.ProcessSeconds(app.Pid), CpuProfile.PostgresSeconds(postmaster));
            rows.Add(await RunLevelAsync(level, seconds, warmup: false));
            // CPU per conversion started in the level (from /proc), a steadier figure than latency on shared cores.
            var converted = Math.Max(nextCustomer - started, 1);
            cpu.Add($"# concurrency {level}: the app's CPU {1000 * (CpuProfile.ProcessSeconds(app.Pid) - appCpu) / converted:F1} ms and " +
                    $"PostgreSQL's {1000 * (CpuProfile.PostgresSeconds(postmaster) - postgresCpu) / converted:F1} ms per conversion");
            if (spans is not null)
            {
                await Task.Delay(3000, ct); // the app's last spans exported
                Console.WriteLine($"# concurrency {level}:");
                spans.Print(since, Console.Out);
            }
            if (profile)
            {
                // Per conversion started (one customer each): the statements the database ran for them, commits included.
                await CpuProfile.PrintTopStatementsAsync(env, $"conversions at concurrency {level}", Math.Max(nextCustomer - started, 1), top: 30);
            }
        }

        Console.WriteLine();
        Console.WriteLine(
            "| concurrency | conversions/s | latency p50 ms | latency p99 ms | " +
            "external per conversion ms (at the simulators, overlapping calls once) | app adds p50 ms | " +
            "app adds p99 ms | app adds max ms | errors |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in rows) Console.WriteLine(r);
        Console.WriteLine();
        foreach (var c in cpu) Console.WriteLine(c);
        if (floor is not null)
        {
            Console.WriteLine($"(the floor, --floor {floor}: the same calls" + floor switch
            {
                "commits" => ", the saga's durable writes (four before the answer)",
                "minimal" => ", the two durable writes the answer must wait for (the claim with the send's record, the coupon's record)",
                _ => "",
            } + ", nothing else; no throttle phase)");
            Console.WriteLine($"peak RSS of the floor: {app.PeakRssKb / 1024} MiB");
            // Judged from the simulators' records: one deduction at the POS and one code in Shopify for every answer, no error.
            var (deductions, codes) = (env.Pos.Transactions().Count(t => t.Points < 0), env.Shopify.AllDiscounts().Count);
            var exact = answered > 0 && failedAnswers == 0 && deductions == answered && codes == answered;
            Console.WriteLine(exact ? $"RESULT: the floor answered {answered} conversions, each with one POS deduction and one code in Shopify"
                : $"RESULT: NOT exact: {answered} answered, {failedAnswers} failed, {deductions} POS deductions, {codes} codes in Shopify");
            return exact ? 0 : 1;
        }

        // Phase 2: the throttle. Shopify's numbers for a Standard plan: a 2,000-point bucket restored at 100 points/s,
        // 10 points per query; a conversion spends three (create the code, read and write the metafield).
        env.Shopify.BucketSize = bucketSize; // the smoke's is small, so the throttle bites within seconds
        env.Shopify.RestoreRate = 100;
        env.Shopify.QueryCost = 10;
        var acceptedBefore = env.Shopify.Requests - env.Shopify.BucketThrottled;
        var throttledBefore = env.Shopify.BucketThrottled;
        var customerErrors = -1;
        var settled = false;
        var throttle = await RunLevelAsync(throttleLevel, throttleSeconds, warmup: false, throttled: true);
        Console.WriteLine();
        Console.WriteLine($"throttle on (bucket {env.Shopify.BucketSize}, restore {env.Shopify.RestoreRate}/s, {env.Shopify.QueryCost} per query), " +
                          $"{throttleLevel} customers converting at once for {throttleSeconds} s:");
        Console.WriteLine();
        Console.WriteLine(
            "| codes/s during the load | to the code p50 ms | mean ms | p99 ms | answered 202 first | customer-facing errors | " +
                          "metafields caught up after | conversions/s, load + catch-up | ceiling/s (what the bucket allows) | of the ceiling | " +
                          "THROTTLED answers |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|");
        Console.WriteLine(throttle);
        Console.WriteLine();
        Console.WriteLine(
            $"Shopify answered THROTTLED {env.Shopify.BucketThrottled - throttledBefore} times; accepted queries " +
            $"{env.Shopify.Requests - env.Shopify.BucketThrottled - acceptedBefore}");
        Console.WriteLine($"peak RSS of the app: {app.PeakRssKb / 1024} MiB");
        Figures.Record("conversions.peak_rss_kb", app.PeakRssKb);
        Figures.Record("conversions.throttle.settled_without_errors", customerErrors == 0 && settled ? 1 : 0);
        Console.WriteLine(customerErrors == 0 && settled
            ? "RESULT: no customer-facing error at Shopify's throttle, and everything settled"
            : $"RESULT: {customerErrors} customer-facing errors at Shopify's throttle{(settled ? "" : "; NOT everything settled")}");
        return customerErrors == 0 && settled ? 0 : 1;

        async Task<string> RunLevelAsync(int level, int duration, bool warmup, bool throttled = false)
        {
            var stats = new Stats();
            var added = new Stats(); // per conversion: its latency minus the time its own calls were being answered by the simulators
            var waited = new Stats(); // per conversion: that time (calls that overlap count once)
            var errors = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
            var completed = 0;
            var deferred = 0;
            var posBefore = env.Pos.Requests;
            var servedBefore = env.Pos.Served.Total + env.Shopify.Served.Total;
            var shopifyBefore = env.Shopify.Requests - env.Shopify.BucketThrottled; // queries Shopify accepted
            var throttledAnswersBefore = env.Shopify.BucketThrottled;
            // Sixteen customers do not press at the same millisecond: unless --in-step, each worker starts at a seeded random point of
            // one conversion's nominal time. Started together, the simulators' fixed latencies keep the workers in step for the whole
            // level, every step of sixteen conversions reaching the app at once.
            var random = new Random(seed * 1_000 + level);
            var offsets = inStep || warmup || throttled ? null
                : Enumerable.Range(0, level).Select(_ => TimeSpan.FromMilliseconds(random.NextDouble() * (2 * PosMs + 3 * ShopifyMs))).ToArray();
            var clock = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, level).Select(async w =>
            {
                if (offsets is not null) await Task.Delay(offsets[w], ct);
                while (clock.Elapsed.TotalSeconds < duration)
                {
                    // A customer per attempt, so no worker waits on its own customer's conversion still being settled.
                    var customer = 800_001 + Interlocked.Increment(ref nextCustomer) % 5000;
                    var request = new HttpRequestMessage(HttpMethod.Post, "/proxy/api/conversions?" +
                        ShopifyOutbound.AppProxyQuery(BenchEnvironment.Shop, customer, BenchEnvironment.ClientSecret))
                    {
                        Content = new StringContent("""{"points":100}""", Encoding.UTF8, "application/json"),
                    };
                    request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
                    var started = Stopwatch.GetTimestamp();
                    var response = await http.SendAsync(request, ct);
                    if (response.StatusCode == HttpStatusCode.Accepted)
                    {
                        // As My Page does: "Processing…", polling until the code is there.
                        Interlocked.Increment(ref deferred);
                        var id = (await response.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("conversionId").GetString();
                        while (response.StatusCode == HttpStatusCode.Accepted)
                        {
                            response.Dispose();
                            await Task.Delay(500, ct);
                            response = await http.GetAsync($"/proxy/api/conversions/{id}?" +
                                ShopifyOutbound.AppProxyQuery(BenchEnvironment.Shop, customer, BenchEnvironment.ClientSecret), ct);
                        }
                    }
                    using (response)
                    {
                        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK)
                        {
                            stats.Add(ms);
                            var external = ServedTime.Covered(customer.ToString(), started, Stopwatch.GetTimestamp(), env.Pos.Served,
                                env.Shopify.Served).TotalMilliseconds;
                            added.Add(ms - external);
                            waited.Add(external);
                            Interlocked.Increment(ref completed);
                            Interlocked.Increment(ref answered);
                        }
                        else
                        {
                            var body = await response.Content.ReadAsStringAsync(ct);
                            var code = body.StartsWith('{') && JsonDocument.Parse(body).RootElement.TryGetProperty("code", out var c) ? c.GetString()
                                : null;
                            errors.AddOrUpdate($"{(int)response.StatusCode} {code}", 1, (_, n) => n + 1);
                            Interlocked.Increment(ref failedAnswers);
                            await Task.Delay(100, ct);
                        }
                    }
                }
            }).ToList();
            await Task.WhenAll(workers);
            var elapsed = clock.Elapsed.TotalSeconds;
            if (warmup) return "";
            var errorText = errors.IsEmpty ? "none" : string.Join(", ", errors.Select(e => $"{e.Key} ×{e.Value}"));
            if (completed == 0) return $"| {level} | 0 | | | | | | | {errorText} |";
            var rate = completed / elapsed;
            var accepted = env.Shopify.Requests - env.Shopify.BucketThrottled - shopifyBefore;
            if (throttled)
            {
                // Codes come first; the metafield writes the bucket had no room for are caught up by the reconciler. The
                // whole work is done when nothing is in flight and every completed conversion's metafield is written.
                var catchUp = Stopwatch.StartNew();
                while (await env.ScalarAsync<long>("""
                           SELECT count(*) FROM conversions
                           WHERE state IN ('pending', 'coupon_created', 'settling', 'compensating') OR (state = 'completed' AND metafield_synced_at IS
                               NULL)
                           """) > 0 && catchUp.Elapsed < TimeSpan.FromMinutes(10))
                {
                    await Task.Delay(250, ct);
                }
                settled = catchUp.Elapsed < TimeSpan.FromMinutes(10);
                customerErrors = errors.Values.Sum();
                var total = elapsed + catchUp.Elapsed.TotalSeconds;
                var all = env.Shopify.Requests - env.Shopify.BucketThrottled - shopifyBefore;
                // The ceiling: what the bucket lets through over the whole time (it starts full, then refills), in conversions.
                var perConversion = (double)all / completed * env.Shopify.QueryCost;
                var overall = completed / total;
                var ceiling = (env.Shopify.BucketSize + env.Shopify.RestoreRate * total) / perConversion / total;
                // The mean beside the median: with about half the codes answered 202 first (then polled) the median sits between the two
                // groups and flips from run to run, while the mean is what the bucket's rate and the customers waiting fix.
                return $"| {rate:F2} | {Stats.F(stats.Percentile(50))} | {Stats.F(stats.Mean)} | {Stats.F(stats.Percentile(99))} | {deferred} | " +
                       $"{errorText} | {catchUp.Elapsed.TotalSeconds:F1} s | {overall:F2} | " +
                       $"{ceiling:F2} ({perConversion:F0} points per conversion) | " +
                       $"{100 * overall / ceiling:F0} % | {env.Shopify.BucketThrottled - throttledAnswersBefore} |";
            }
            // Calls per conversion are the same for every conversion here (POS: balance + deduction; Shopify: create +
            // metafield read + write). The external time of one conversion is how long the simulators themselves were answering
            // its calls (their configured latency, the timer's overshoot and their own work), calls that overlap counted once; then
            // the simulators' whole time summed over the calls, divided evenly, and the nominal figure (calls times the configured
            // latency). Summed equals the first when a conversion makes its calls one after another.
            Figures.Record($"conversions.{level}.added_p99_ms", added.Percentile(99));
            Figures.Record($"conversions.{level}.errors", errors.Values.Sum());
            var posCalls = (double)(env.Pos.Requests - posBefore) / completed;
            var shopifyCalls = (double)accepted / completed;
            var nominal = posCalls * PosMs + shopifyCalls * ShopifyMs;
            var summed = (env.Pos.Served.Total + env.Shopify.Served.Total - servedBefore).TotalMilliseconds / completed;
            return $"| {level} | {rate:F2} | {Stats.F(stats.Percentile(50))} | {Stats.F(stats.Percentile(99))} | {Stats.F(waited.Mean)} " +
                   $"(summed {Stats.F(summed)}; nominal {Stats.F(nominal)}: POS {posCalls:F1}, Shopify {shopifyCalls:F1} calls) | " +
                   $"{Stats.F(added.Percentile(50))} | {Stats.F(added.Percentile(99))} | {Stats.F(added.Max)} | {errorText} |";
        }
    }
}
