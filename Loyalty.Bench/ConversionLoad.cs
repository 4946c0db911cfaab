using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// Conversions against one instance with the simulators adding realistic latency (POS 40 ms, Shopify 120 ms per
/// call). Phase 1, per concurrency level: conversions/s, latency, and the time the app adds on top of the external
/// calls it made. Phase 2: Shopify's cost-based throttle on (a leaky bucket per shop): conversions/s against the
/// ceiling the bucket allows, and whether any customer saw a throttling error.
/// </summary>
public static class ConversionLoad
{
    private const int PosMs = 40, ShopifyMs = 120;

    public static async Task<int> RunAsync(int[] levels, int seconds, int throttleSeconds, int seed, CancellationToken ct)
    {
        ThreadPool.SetMinThreads(128, 128);
        await using var env = await BenchEnvironment.StartAsync(seed, ct);
        var app = await env.StartAppAsync(new Dictionary<string, string>
        {
            ["Jobs:Schedules:missed-orders-sweep"] = "",
            ["Shopify:GraphQLRetryBaseDelayMs"] = "200",
        }, ct);
        await env.InstallShopAsync(app, new
        {
            balanceSource = "pos", posBaseUrl = env.Pos.BaseUrl.ToString(), posApiKey = env.Pos.ApiKey, pointValue = 0.01m,
            minConversion = 100, conversionStep = 100, dailyConversionLimit = 100_000_000,
        }, ct);
        for (var c = 1; c <= 5000; c++) env.Pos.SetBalance((800_000 + c).ToString(), 1_000_000_000);
        env.Pos.Latency = TimeSpan.FromMilliseconds(PosMs);
        env.Shopify.Latency = TimeSpan.FromMilliseconds(ShopifyMs);
        Console.WriteLine($"# conversions: POS {PosMs} ms, Shopify {ShopifyMs} ms per call, levels {string.Join(",", levels)}, {seconds} s each, seed {seed}");

        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 512 }) { BaseAddress = app.BaseUrl, Timeout = TimeSpan.FromSeconds(120) };
        var nextCustomer = 0;
        await RunLevelAsync(2, 3, warmup: true); // JIT, pools
        var rows = new List<string>();
        foreach (var level in levels) rows.Add(await RunLevelAsync(level, seconds, warmup: false));

        Console.WriteLine();
        Console.WriteLine("| concurrency | conversions/s | latency p50 ms | latency p99 ms | external per conversion ms | app adds p50 ms | app adds p99 ms | errors |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in rows) Console.WriteLine(r);

        // Phase 2: the throttle.
        env.Shopify.BucketSize = 2000;
        env.Shopify.RestoreRate = 100;
        env.Shopify.QueryCost = 10;
        var acceptedBefore = env.Shopify.Requests - env.Shopify.BucketThrottled;
        var throttledBefore = env.Shopify.BucketThrottled;
        var throttleRow = await RunLevelAsync(levels.Max(), throttleSeconds, warmup: false, throttled: true);
        Console.WriteLine();
        Console.WriteLine($"throttle on (bucket 2000, restore 100/s, 10 per query): {throttleRow}");
        Console.WriteLine($"Shopify answered THROTTLED {env.Shopify.BucketThrottled - throttledBefore} times; accepted queries {env.Shopify.Requests - env.Shopify.BucketThrottled - acceptedBefore}");
        Console.WriteLine($"peak RSS of the app: {app.PeakRssKb / 1024} MiB");
        return 0;

        async Task<string> RunLevelAsync(int level, int duration, bool warmup, bool throttled = false)
        {
            var stats = new Stats();
            var overhead = new Stats();
            var errors = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
            var completed = 0;
            var posBefore = env.Pos.Requests;
            var shopifyBefore = env.Shopify.Requests - env.Shopify.BucketThrottled; // queries Shopify accepted
            var clock = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, level).Select(async w =>
            {
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
                    using var response = await http.SendAsync(request, ct);
                    var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    if ((int)response.StatusCode is 201)
                    {
                        stats.Add(ms);
                        Interlocked.Increment(ref completed);
                    }
                    else
                    {
                        var body = await response.Content.ReadAsStringAsync(ct);
                        var code = body.StartsWith('{') && JsonDocument.Parse(body).RootElement.TryGetProperty("code", out var c) ? c.GetString() : null;
                        errors.AddOrUpdate($"{(int)response.StatusCode} {code}", 1, (_, n) => n + 1);
                        await Task.Delay(100, ct);
                    }
                }
            }).ToList();
            await Task.WhenAll(workers);
            var elapsed = clock.Elapsed.TotalSeconds;
            if (warmup) return "";
            if (completed == 0) return $"| {level} | 0 | | | | | | {string.Join(", ", errors.Select(e => $"{e.Key} ×{e.Value}"))} |";
            // Calls per conversion are the same for every conversion here (POS: balance + deduction; Shopify: create +
            // metafield read + write), so the external time of one conversion is the mean calls times the latency.
            var posCalls = (double)(env.Pos.Requests - posBefore) / completed;
            var shopifyCalls = (double)(env.Shopify.Requests - env.Shopify.BucketThrottled - shopifyBefore) / completed;
            var external = posCalls * PosMs + shopifyCalls * ShopifyMs;
            var rate = completed / elapsed;
            var errorText = errors.IsEmpty ? "none" : string.Join(", ", errors.Select(e => $"{e.Key} ×{e.Value}"));
            if (warmup) return "";
            // What the bucket allows over the run (its size plus what it restores) against the points Shopify accepted.
            var allowed = env.Shopify.BucketSize + env.Shopify.RestoreRate * elapsed;
            var used = (env.Shopify.Requests - env.Shopify.BucketThrottled - shopifyBefore) * env.Shopify.QueryCost;
            var ceiling = throttled ? $" (Shopify query points used: {100 * used / allowed:F0} % of what the bucket allows)" : "";
            return $"| {level} | {rate:F2}{ceiling} | {Stats.F(stats.Percentile(50))} | {Stats.F(stats.Percentile(99))} | {Stats.F(external)} " +
                   $"(POS {posCalls:F1}, Shopify {shopifyCalls:F1} calls) | {Stats.F(stats.Percentile(50) - external)} | {Stats.F(stats.Percentile(99) - external)} | {errorText} |";
        }
    }
}
