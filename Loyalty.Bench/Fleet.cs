using System.Diagnostics;
using System.Net.Http.Json;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// Issue 19's many-shops scenario: the Shopify simulator hosts <see cref="Options.Shops"/> installed shops (each with its own cost
/// bucket, access tokens that expire every <see cref="Options.TokenSeconds"/> and its own orders), and
/// <see cref="Options.Instances"/> app instances share one PostgreSQL. One shop gets a flood of <c>orders/paid</c> while every other
/// gets a trickle; a share of the trickle's webhooks is never sent, so only the missed-order sweep can find those orders. Judged by
/// the generator's own ledger of orders against the awards: every paid order awarded exactly once, the dropped ones included. The
/// rest is measured from what the simulator saw and reported (<see cref="FleetReport"/>).
/// </summary>
public static partial class Fleet
{
    public sealed record Options(int Seed, int Shops, int Instances, int FloodOrders, int Seconds, int TrickleSeconds, double DropRate,
        int SweepMinutes, int TokenSeconds, int Concurrency, bool Durable, bool Pos = false, int PosLatencyMs = 0);

    /// <summary>
    /// One order of the load: its shop, its customer, when it is due (seconds into the load), and whether its webhook is never sent.
    /// In POS mode every shop has customers of its own (the POS simulator's balances are per customer, so each balance checks one shop).
    /// </summary>
    public sealed record PlannedOrder(long Id, string Shop, long Customer, double DueSeconds, bool Dropped, bool Flood);

    public static string ShopName(int i) => $"fleet-{i:D5}.myshopify.com";

    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        ThreadPool.SetMinThreads(128, 128);
        Console.WriteLine($"# fleet: seed {o.Seed}, {o.Shops} shops on {o.Instances} instances; " +
                          $"one shop gets {o.FloodOrders} orders in {o.Seconds} s, " +
                          $"every other one an order every {o.TrickleSeconds} s ({o.DropRate:P0} of their webhooks dropped); sweep every " +
                          $"{o.SweepMinutes} min; access tokens expire every {o.TokenSeconds} s" +
                          (o.Pos ? $"; balances in the POS (a key per shop, {o.PosLatencyMs} ms a call)" : ""));
        await using var env = await BenchEnvironment.StartAsync(o.Seed, o.Durable, ct);
        env.Shopify.AccessTokenSeconds = o.TokenSeconds;
        // A fleet's tokens at any moment are anywhere in their life (installed and refreshed at many times before): a shop's first token
        // lives between a sixth of the life and all of it, so refreshes come as they would, not all at once.
        env.Shopify.FirstTokenMinSeconds = o.TokenSeconds / 6;
        env.Shopify.BucketSize = 1000; // Shopify's standard bucket: 1,000 points refilled at 50 a second
        env.Shopify.RestoreRate = 50;
        env.Shopify.QueryCost = 10;
        env.Pos.Latency = TimeSpan.FromMilliseconds(o.PosLatencyMs);
        var spread = (int)(o.SweepMinutes * 60 * 0.8);
        var refreshEvery = o.TokenSeconds < 1800 ? 10 : 60;
        if (o.TokenSeconds / 6 < 3 * refreshEvery) throw new ArgumentException("--token-seconds must be at least 18 times the refresh interval.");
        var settings = new Dictionary<string, string>
        {
            ["Jobs:Schedules:missed-orders-sweep"] = o.SweepMinutes == 1 ? "* * * * *" : $"*/{o.SweepMinutes} * * * *",
            ["OrderSweep:SpreadSeconds"] = spread.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Shopify:RefreshBeforeExpirySeconds"] = Math.Min(300, o.TokenSeconds / 3).ToString(System.Globalization.CultureInfo.InvariantCulture),
            // Tokens refreshed ahead of expiry by the per-shop token-refresh jobs, at a pace that fits the run's short-lived tokens.
            ["Jobs:Schedules:token-refresh"] = refreshEvery == 10 ? "*/10 * * * * *" : "* * * * *",
            ["TokenRefresh:SpreadSeconds"] = (refreshEvery / 2).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["TokenRefresh:MarginSeconds"] = (refreshEvery / 2).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["TokenRefresh:EarlySeconds"] = (o.TokenSeconds / 4).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Jobs:Schedules:orphan-coupon-sweep"] = "", // no coupons in this load
            ["Storefront:ShopRequestLimit"] = "10000000",
        };
        for (var i = 0; i < o.Instances; i++) await env.StartAppAsync(settings, ct);

        var shops = Enumerable.Range(0, o.Shops).Select(ShopName).ToList();
        var install = Stopwatch.StartNew();
        await InstallAsync(env, shops, o.Pos, o.Concurrency, ct);
        Console.WriteLine($"installed {shops.Count} shops in {install.Elapsed.TotalSeconds:F0} s");

        var plan = Plan(o, shops);
        var report = new FleetReport(env, o, plan);
        using var sampling = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampler = report.SampleSweepsAsync(sampling.Token);
        var load = Stopwatch.StartNew();
        await SendAsync(env, plan, report, o.Concurrency, ct);
        Console.WriteLine($"load sent in {load.Elapsed.TotalSeconds:F0} s: {plan.Count(p => !p.Dropped)} webhooks, {plan.Count(p => p.Dropped)} " +
                          "orders only the sweep can find");

        // Every order awarded, or a sweep interval and a minute more (a dropped order waits for its shop's next sweep).
        var expected = plan.Count;
        // In POS mode, and every award delivered to the POS.
        var settled = await Soak.WaitAsync(async () => await env.ScalarAsync<long>(
                "SELECT count(*) FROM order_earnings WHERE order_id >= 100000000") >= expected
            && (!o.Pos || await env.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE state = 'pending'") == 0),
            TimeSpan.FromMinutes(o.SweepMinutes + 1), ct);
        Console.WriteLine($"settled: {settled} after {load.Elapsed.TotalSeconds:F0} s");
        await sampling.CancelAsync();
        await sampler;
        return await report.PrintAsync();
    }

    /// <summary>
    /// Each shop installed through token exchange, as a merchant opening the app does, with earning on (1 point a euro); in POS mode
    /// with its balances in the POS simulator under a key of its own.
    /// </summary>
    private static async Task InstallAsync(BenchEnvironment env, List<string> shops, bool pos, int concurrency, CancellationToken ct)
    {
        using var http = new HttpClient();
        var next = 0;
        await Parallel.ForEachAsync(shops, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct }, async (shop, _) =>
        {
            var app = env.Apps[Interlocked.Increment(ref next) % env.Apps.Count];
            using var open = Admin(app, HttpMethod.Get, "/api/admin/shop", shop);
            (await http.SendAsync(open, ct)).EnsureSuccessStatusCode();
            using var put = Admin(app, HttpMethod.Put, "/api/admin/settings", shop);
            var key = $"{env.Pos.ApiKey}-{shop}";
            if (pos) env.Pos.AddApiKey(key);
            put.Content = pos
                ? JsonContent.Create(new
                {
                    earnRate = 1m, earnBasis = "total", balanceSource = "pos", posBaseUrl = env.Pos.BaseUrl.ToString(), posApiKey = key,
                })
                : JsonContent.Create(new { earnRate = 1m, earnBasis = "total" });
            (await http.SendAsync(put, ct)).EnsureSuccessStatusCode();
        });
    }

    private static HttpRequestMessage Admin(AppInstance app, HttpMethod method, string path, string shop)
    {
        var request = new HttpRequestMessage(method, new Uri(app.BaseUrl, path));
        request.Headers.Authorization = new("Bearer", ShopifyOutbound.SessionToken(shop, BenchEnvironment.ClientId, BenchEnvironment.ClientSecret));
        return request;
    }

    /// <summary>The load, drawn from the seed: the flood evenly over the run, each other shop's orders at its own phase.</summary>
    private static List<PlannedOrder> Plan(Options o, List<string> shops)
    {
        var random = new Random(o.Seed);
        var plan = new List<PlannedOrder>();
        long id = 100_000_000;
        long Customer(int shop, long order) => o.Pos ? 10_000_000 + shop * 100L + order % 50 : 5_000 + order % 50;
        for (var k = 0; k < o.FloodOrders; k++, id++)
        {
            plan.Add(new PlannedOrder(id, shops[0], Customer(0, id), (double)k * o.Seconds / o.FloodOrders, false, true));
        }
        for (var s = 1; s < shops.Count; s++)
        {
            for (var at = random.NextDouble() * o.TrickleSeconds; at < o.Seconds; at += o.TrickleSeconds, id++)
            {
                plan.Add(new PlannedOrder(id, shops[s], Customer(s, id), at, random.NextDouble() < o.DropRate, false));
            }
        }
        return [.. plan.OrderBy(p => p.DueSeconds)];
    }

    /// <summary>
    /// Sends each order when it is due, to the instances in turn, as Shopify would: the order is in the shop's orders (the sweep's
    /// source) the moment it is paid, and its webhook follows unless it is one of the dropped.
    /// </summary>
    private static async Task SendAsync(BenchEnvironment env, List<PlannedOrder> plan, FleetReport report, int concurrency, CancellationToken ct)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var clock = Stopwatch.StartNew();
        var sent = 0;
        await Parallel.ForEachAsync(plan, new ParallelOptions { MaxDegreeOfParallelism = concurrency, CancellationToken = ct }, async (p, _) =>
        {
            var wait = TimeSpan.FromSeconds(p.DueSeconds) - clock.Elapsed;
            if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
            var amount = Amount(p);
            env.Pos.EnsureCustomer(p.Customer.ToString(System.Globalization.CultureInfo.InvariantCulture)); // known to the POS before it earns
            env.Shopify.AddPaidOrder(p.Id, p.Customer, amount, amount, shop: p.Shop);
            if (p.Dropped) return;
            var app = env.Apps[Interlocked.Increment(ref sent) % env.Apps.Count];
            var body = ShopifyOutbound.PaidOrder(p.Id, p.Customer, amount, amount);
            var sentAt = DateTime.UtcNow; // its arrival, as Shopify would count it
            for (var attempt = 1; ; attempt++)
            {
                using var request = ShopifyOutbound.Webhook(new Uri(app.BaseUrl, "/webhooks"), "orders/paid", p.Shop, body,
                    BenchEnvironment.ClientSecret, $"fleet-{p.Id}", DateTimeOffset.UtcNow);
                try
                {
                    using var response = await http.SendAsync(request, ct);
                    if (response.IsSuccessStatusCode) break;
                }
                catch (HttpRequestException) when (attempt < 5)
                {
                    // Shopify retries a delivery that was not acknowledged
                }
                if (attempt >= 5) throw new InvalidOperationException($"orders/paid {p.Id} of {p.Shop} never acknowledged.");
                await Task.Delay(500 * attempt, ct);
            }
            report.Delivered(p, sentAt);
        });
    }

    /// <summary>An order's amount, and so its points at 1 point a euro: the generator's own arithmetic the POS balances are judged by.</summary>
    public static decimal Amount(PlannedOrder p) => 10m + p.Id % 90;
}
