using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Dapper;
using Loyalty.Pos;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// The seeded soak: many customers, thousands of conversions (a few customers hammered concurrently, some
/// requests replayed with the same idempotency key, some coupons cancelled), thousands of webhook deliveries
/// (duplicates, out of order, refunds, cancellations), a share of POS and Shopify calls failing every way the
/// simulators can, two app instances on one database, SIGKILLed and restarted during the run. Then the faults
/// stop, the reconcilers run to quiescence, and <see cref="SoakChecker"/> compares the database with the
/// simulators' ground truth. The seed fixes the schedule (operations, customers, amounts, kill times) and the
/// simulators' fault draws; thread interleaving is the machine's.
/// </summary>
public static class Soak
{
    public sealed record Options(int Seed, int Conversions, int Customers, int Orders, int Kills, int Instances, double FaultRate, bool Broken,
        int Concurrency);

    /// <summary>What the load generator saw: the codes customers were shown, the coupons they cancelled, the orders.</summary>
    public sealed class Observed
    {
        public ConcurrentDictionary<string, long> CodesShown { get; } = new();
        public ConcurrentDictionary<string, bool> CodesCancelled { get; } = new();
        public ConcurrentDictionary<long, (long Customer, bool Cancelled)> Orders { get; } = new();
        public ConcurrentDictionary<long, long> Opening { get; } = new();
        public int Requests;
        public int TransportRetries;
        public int Responses5xx;
    }

    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        ThreadPool.SetMinThreads(128, 128);
        Console.WriteLine($"# soak: seed {o.Seed}, {o.Conversions} conversions, {o.Customers} customers, {o.Orders} orders, {o.Instances} instances, " +
                          $"{o.Kills} kills, fault rate {o.FaultRate}{(o.Broken ? ", BROKEN variant" : "")}");
        var random = new Random(o.Seed);
        await using var env = await BenchEnvironment.StartAsync(o.Seed, ct);
        var settings = new Dictionary<string, string>
        {
            ["Jobs:SchedulePollIntervalMs"] = "1000",
            ["Jobs:QueuePollIntervalMs"] = "200",
            ["Jobs:Schedules:conversion-reconciler"] = "*/2 * * * * *",
            ["Jobs:Schedules:pos-sync"] = "*/2 * * * * *",
            ["Jobs:Schedules:donation-settler"] = "",
            ["Jobs:Schedules:event-delivery"] = "",
            ["Jobs:Schedules:missed-orders-sweep"] = "",
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
            ["Shopify:GraphQLRetryBaseDelayMs"] = "50",
        };
        for (var i = 0; i < o.Instances; i++) await env.StartAppAsync(settings, ct);
        await env.InstallShopAsync(env.Apps[0], new
        {
            balanceSource = "pos", posBaseUrl = env.Pos.BaseUrl.ToString(), posApiKey = env.Pos.ApiKey, earnRate = 1m, earnBasis = "total",
            pointValue = 0.01m, minConversion = 100, conversionStep = 100, dailyConversionLimit = 100_000_000, negativeBalancePolicy = "floor_at_zero",
        }, ct);

        var seen = new Observed();
        var client = new LoadClient(env, seen);

        // Opening balances: a bonus per customer through the admin API, synced to the POS before the load starts.
        var customers = Enumerable.Range(1, o.Customers).Select(i => 900_000L + i).ToList();
        foreach (var c in customers)
        {
            var opening = random.Next(100, 300) * 100L;
            seen.Opening[c] = opening;
            env.Pos.SetBalance(c.ToString(), 0);
            await client.BonusAsync(c, opening, ct);
        }
        if (!await WaitAsync(async () => await env.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE state <> 'delivered'") == 0, ct, TimeSpan.FromMinutes(3)))
        {
            throw new TimeoutException("The opening balances did not reach the POS.");
        }

        // The schedule, fixed by the seed.
        var hot = customers.Take(Math.Max(2, o.Customers / 20)).ToList();
        var ops = new List<Func<Task>>();
        for (var k = 0; k < o.Conversions; k++)
        {
            var customer = random.NextDouble() < 0.4 ? hot[random.Next(hot.Count)] : customers[random.Next(customers.Count)];
            var points = random.Next(1, 6) * 100L;
            var key = $"soak-{o.Seed}-{k}";
            var replay = random.NextDouble() < 0.1;
            var cancel = random.NextDouble() < 0.05;
            ops.Add(async () =>
            {
                var code = await client.ConvertAsync(customer, points, key, ct);
                if (replay) await client.ConvertAsync(customer, points, key, ct); // the same key again: never a second conversion
                for (var attempt = 1; code is null && attempt <= 2 && client.LastWasUnavailable(key); attempt++)
                {
                    code = await client.ConvertAsync(customer, points, $"{key}-again{attempt}", ct); // the customer clicks again: a new attempt
                }
                if (code is not null && cancel) await client.CancelAsync(customer, code, ct);
            });
        }
        long nextOrder = 70_000_000;
        for (var k = 0; k < o.Orders; k++)
        {
            var order = nextOrder++;
            var customer = customers[random.Next(customers.Count)];
            var amount = random.Next(10, 300);
            var duplicate = random.NextDouble() < 0.2;
            var refund = random.NextDouble() < 0.1 ? random.Next(1, amount) : 0;
            var cancelled = random.NextDouble() < 0.05;
            var refundFirst = refund > 0 && random.NextDouble() < 0.3;
            seen.Orders[order] = (customer, cancelled);
            ops.Add(async () =>
            {
                var paid = ShopifyOutbound.PaidOrder(order, customer, amount, amount);
                var paidId = Guid.NewGuid().ToString();
                if (refundFirst) await client.WebhookAsync("refunds/create", ShopifyOutbound.Refund(order * 10, order, refund), null, ct);
                await client.WebhookAsync("orders/paid", paid, paidId, ct);
                if (duplicate) await client.WebhookAsync("orders/paid", paid, paidId, ct);
                if (refund > 0 && !refundFirst) await client.WebhookAsync("refunds/create", ShopifyOutbound.Refund(order * 10, order, refund), null, ct);
                if (cancelled) await client.WebhookAsync("orders/cancelled", ShopifyOutbound.PaidOrder(order, customer, amount, amount, cancelled: true), null, ct);
            });
        }
        var shuffled = ops.OrderBy(_ => random.Next()).ToList();
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
        await Parallel.ForEachAsync(shuffled, new ParallelOptions { MaxDegreeOfParallelism = o.Concurrency, CancellationToken = ct }, async (op, _) =>
        {
            await op();
            var n = Interlocked.Increment(ref done);
            if (n % 1000 == 0) Console.WriteLine($"  [{load.Elapsed:mm\\:ss}] {n}/{shuffled.Count} operations");
        });
        await killer;
        Console.WriteLine($"load done in {load.Elapsed.TotalSeconds:F0} s: {seen.Requests} requests, {seen.TransportRetries} resent after a lost connection, " +
                          $"{seen.Responses5xx} 5xx answers, POS calls {env.Pos.Requests}");

        // Faults off; everything must settle by itself.
        env.Pos.FaultRate = 0;
        env.Shopify.FaultRate = 0;
        var quiet = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var settled = await WaitAsync(async () =>
        {
            if (await SoakChecker.InFlightAsync(env) == 0) return true;
            if (quiet.Elapsed - lastReport > TimeSpan.FromSeconds(15))
            {
                lastReport = quiet.Elapsed;
                Console.WriteLine($"  [+{quiet.Elapsed.TotalSeconds:F0} s] still in flight: {await SoakChecker.DescribeInFlightAsync(env)}");
            }
            return false;
        }, ct, TimeSpan.FromMinutes(10));
        var quiescence = quiet.Elapsed;
        var stuck = settled ? null : await SoakChecker.DescribeInFlightAsync(env);
        Console.WriteLine(settled ? $"quiescent {quiescence.TotalSeconds:F1} s after the faults stopped" : $"NOT quiescent after {quiescence.TotalSeconds:F0} s: {stuck}");

        // The broken variant acts on the settled system, so what the checker finds is the bug's doing alone.
        if (o.Broken) await BreakAsync(env, ct);

        var violations = await SoakChecker.CheckAsync(env, seen, ct);
        if (stuck is not null) violations.Insert(0, $"not quiescent 10 minutes after the faults stopped: {stuck}");
        var conversions = await env.ScalarAsync<long>("SELECT count(*) FROM conversions");
        var completed = await env.ScalarAsync<long>("SELECT count(*) FROM conversions WHERE state = 'completed'");
        Console.WriteLine($"conversions {conversions} (completed {completed}), codes shown {seen.CodesShown.Count}, cancelled {seen.CodesCancelled.Count}, " +
                          $"orders {seen.Orders.Count}, webhook deliveries {await env.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries")}, " +
                          $"app starts {string.Join("/", env.Apps.Select(a => a.Starts))}, peak RSS {string.Join("/", env.Apps.Select(a => a.PeakRssKb / 1024))} MiB");
        foreach (var v in violations.Take(30)) Console.WriteLine("VIOLATION " + v);
        Console.WriteLine($"RESULT: {violations.Count} violations (seed {o.Seed}, quiescence {quiescence.TotalSeconds:F1} s)");
        return violations.Count == 0 ? 0 : 1;
    }

    /// <summary>
    /// The deliberately broken variant: what a client that retries with a new reference, or re-sends an old one
    /// after the saga gave up, would do to the POS. The checker must report it.
    /// </summary>
    private static async Task BreakAsync(BenchEnvironment env, CancellationToken ct)
    {
        await using var conn = env.Connection();
        var completed = (await conn.QueryAsync<(string Id, long Customer, long Points)>(
            "SELECT id, customer_id, points FROM conversions WHERE state = 'completed' ORDER BY id LIMIT 3")).ToList();
        var failed = (await conn.QueryAsync<(string Id, long Customer, long Points)>(
            "SELECT id, customer_id, points FROM conversions WHERE state = 'failed' ORDER BY id LIMIT 3")).ToList();
        using var http = new HttpClient { BaseAddress = env.Pos.BaseUrl };
        http.DefaultRequestHeaders.Authorization = new("Bearer", env.Pos.ApiKey);
        env.Pos.FaultRate = 0;
        foreach (var c in completed)
        {
            await http.PostAsJsonAsync($"customers/{c.Customer}/points/deductions", new { points = c.Points, reference = c.Id + "-retry" }, ct);
        }
        foreach (var c in failed)
        {
            await http.PostAsJsonAsync($"customers/{c.Customer}/points/deductions", new { points = c.Points, reference = c.Id }, ct);
        }
        Console.WriteLine($"BROKEN: re-sent {completed.Count} completed deductions under new references and {failed.Count} failed ones under their own");
    }

    private static async Task<bool> WaitAsync(Func<Task<bool>> condition, CancellationToken ct, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout) return false;
            await Task.Delay(250, ct);
        }
        return true;
    }

    /// <summary>Talks to the app instances like browsers and Shopify do: a lost connection is re-sent, same key, to the next instance.</summary>
    private sealed class LoadClient(BenchEnvironment env, Observed seen)
    {
        private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 256, ConnectTimeout = TimeSpan.FromSeconds(2) })
        {
            Timeout = TimeSpan.FromSeconds(30),
        };
        private int _next;
        private readonly ConcurrentDictionary<string, bool> _unavailable = new();

        public bool LastWasUnavailable(string key) => _unavailable.ContainsKey(key);

        /// <summary>
        /// A lost connection (an instance killed, or down) is re-sent to the next instance, the same request with the
        /// same key, for up to two minutes. A 5xx is the app's answer and returned, except for webhooks, which
        /// Shopify delivers again until they are acknowledged.
        /// </summary>
        private async Task<HttpResponseMessage> SendAsync(Func<Uri, HttpRequestMessage> build, CancellationToken ct, bool retry5xx = false)
        {
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                var app = env.Apps[(int)((uint)Interlocked.Increment(ref _next) % env.Apps.Count)];
                Interlocked.Increment(ref seen.Requests);
                try
                {
                    var response = await _http.SendAsync(build(app.BaseUrl), ct);
                    if ((int)response.StatusCode >= 500)
                    {
                        Interlocked.Increment(ref seen.Responses5xx);
                        if (retry5xx && deadline.Elapsed < TimeSpan.FromMinutes(2))
                        {
                            response.Dispose();
                            await Task.Delay(200, ct);
                            continue;
                        }
                    }
                    return response;
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested
                                          && deadline.Elapsed < TimeSpan.FromMinutes(2))
                {
                    Interlocked.Increment(ref seen.TransportRetries);
                    await Task.Delay(200, ct);
                }
            }
        }

        public async Task BonusAsync(long customer, long points, CancellationToken ct)
        {
            using var response = await SendAsync(b =>
            {
                var r = BenchEnvironment.AdminRequest(HttpMethod.Post, new Uri(b, $"/api/admin/customers/{customer}/points").ToString());
                r.Content = JsonContent.Create(new { points, description = "Soak opening balance" });
                r.Headers.Add("Idempotency-Key", $"opening-{customer}");
                return r;
            }, ct);
            response.EnsureSuccessStatusCode();
        }

        private static HttpRequestMessage Proxy(Uri app, HttpMethod method, string path, long customer, object? body, string? key)
        {
            var r = new HttpRequestMessage(method, new Uri(app, "/proxy/" + path + "?" + ShopifyOutbound.AppProxyQuery(BenchEnvironment.Shop, customer, BenchEnvironment.ClientSecret)));
            if (body is not null) r.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
            if (key is not null) r.Headers.Add("Idempotency-Key", key);
            return r;
        }

        /// <summary>Converts, polling a 202 like My Page does; the code once shown, or null if refused or failed.</summary>
        public async Task<string?> ConvertAsync(long customer, long points, string key, CancellationToken ct)
        {
            HttpResponseMessage response;
            for (var busy = 0; ; busy++)
            {
                response = await SendAsync(b => Proxy(b, HttpMethod.Post, "api/conversions", customer, new { points }, key), ct);
                // Another conversion of this customer is in flight: a customer would wait a moment and click again.
                if (response.StatusCode != HttpStatusCode.Conflict || busy == 40
                    || !(await response.Content.ReadAsStringAsync(ct)).Contains("conversion_in_progress", StringComparison.Ordinal)) break;
                response.Dispose();
                await Task.Delay(250, ct);
            }
            using var _ = response;
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable) _unavailable[key] = true;
            var body = await response.Content.ReadFromJsonAsync<JsonElement>(ct);
            if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK) return Shown(body, customer);
            if (response.StatusCode != HttpStatusCode.Accepted) return null;
            var id = body.GetProperty("conversionId").GetString()!;
            for (var i = 0; i < 120; i++)
            {
                await Task.Delay(500, ct);
                using var poll = await SendAsync(b => Proxy(b, HttpMethod.Get, $"api/conversions/{id}", customer, null, null), ct);
                if (poll.StatusCode == HttpStatusCode.Accepted) continue;
                return poll.StatusCode == HttpStatusCode.OK ? Shown(await poll.Content.ReadFromJsonAsync<JsonElement>(ct), customer) : null;
            }
            return null; // still settling: the customer left the page; the checker still sees the conversion
        }

        private string Shown(JsonElement body, long customer)
        {
            var code = body.GetProperty("code").GetString()!;
            seen.CodesShown[code] = customer;
            return code;
        }

        public async Task CancelAsync(long customer, string code, CancellationToken ct)
        {
            using var response = await SendAsync(b => Proxy(b, HttpMethod.Post, $"api/coupons/{Uri.EscapeDataString(code)}/cancel", customer, new { }, null), ct);
            if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Accepted) seen.CodesCancelled[code] = true;
        }

        public async Task WebhookAsync(string topic, string body, string? id, CancellationToken ct)
        {
            var webhookId = id ?? Guid.NewGuid().ToString();
            using var response = await SendAsync(b => ShopifyOutbound.Webhook(new Uri(b, "/webhooks"), topic, BenchEnvironment.Shop, body, BenchEnvironment.ClientSecret, webhookId), ct,
                retry5xx: true);
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Webhook {topic} answered {(int)response.StatusCode}.");
        }
    }
}
