namespace Loyalty.Bench;

/// <summary>
/// The soak's seed: the app instances with the run's settings, the shop installed in the mode's balance source, and
/// every customer's opening balance (in POS mode, synced to the POS before the load starts).
/// </summary>
public static partial class Soak
{
    private static async Task StartShopAsync(Options o, string mode, BenchEnvironment env, CancellationToken ct)
    {
        for (var i = 0; i < o.Instances; i++) await env.StartAppAsync(AppSettings, ct);
        // Ledger mode lets a clawback go below zero, so the balance is exact arithmetic whatever the interleaving; the POS
        // refuses to go below zero, so POS mode floors clawbacks and the checker compares only balances that cannot reach zero.
        await BenchEnvironment.InstallShopAsync(env.Apps[0], mode == "pos"
            ? new
            {
                balanceSource = "pos", posBaseUrl = env.Pos.BaseUrl.ToString(), posApiKey = env.Pos.ApiKey, earnRate = FirstEarnRate,
                earnBasis = "total",
                pointValue = 0.01m, minConversion = 100, conversionStep = 100, dailyConversionLimit = 100_000_000,
                negativeBalancePolicy = "floor_at_zero", pendingDays = o.PendingDays,
                expiryMode = o.ExpiryMonths > 0 ? "earned" : "never", expiryMonths = Math.Max(o.ExpiryMonths, 1),
            }
            : (object)new
            {
                balanceSource = "ledger", earnRate = FirstEarnRate, earnBasis = "total", pointValue = 0.01m, minConversion = 100,
                conversionStep = 100,
                dailyConversionLimit = 100_000_000, negativeBalancePolicy = "allow_negative", pendingDays = o.PendingDays,
                expiryMode = o.ExpiryMonths > 0 ? "earned" : "never", expiryMonths = Math.Max(o.ExpiryMonths, 1),
            }, ct);
    }

    /// <summary>Gives every customer an opening balance; the customers, and the witness of the balance-source switch attempts.</summary>
    private static async Task<(List<long> Customers, long Witness)> SeedAsync(Options o, Random random, BenchEnvironment env, SoakClient client,
        SoakRecord record, CancellationToken ct)
    {
        // Opening balances: a bonus per customer through the admin API, synced to the POS (in POS mode) before the load
        // starts. The last customer is the witness of the balance-source switch attempts. In POS mode a few customers
        // are unknown to the POS until the merchant creates them there after the run: every change of theirs is refused.
        var customers = Enumerable.Range(1, o.Customers).Select(i => 900_000L + i).ToList();
        var witness = customers[^1];
        var hotCount = Math.Max(2, o.Customers / 20);
        if (record.PosMode)
        {
            foreach (var c in customers.Skip(hotCount).SkipLast(1).OrderBy(_ => random.Next()).Take(
                Math.Max(2, o.Customers / 30))) record.UnknownToPos.Add(c);
        }
        foreach (var c in customers)
        {
            var opening = c == witness ? 100_000L : random.Next(100, 300) * 100L;
            record.Opening[c] = opening;
            if (!record.UnknownToPos.Contains(c)) env.Pos.SetBalance(c.ToString(), 0);
            if ((int)await client.AdjustAsync(c, opening, $"opening-{c}", "Soak opening balance", ct) >= 300) throw new InvalidOperationException(
                $"Opening balance of {c} refused.");
        }
        if (o.Tiers) await PlaceInTiersAsync(customers, witness, client, record, placeInApp: o.Broken != SoakBreakage.TierUnset, ct);
        if (o.TierRules) await LiftByRulesAsync(o, customers, witness, env, client, record, ct);
        if (!await WaitAsync(async () => await env.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE state = 'pending'") == 0,
            TimeSpan.FromMinutes(3), ct))
        {
            throw new TimeoutException("The opening balances did not reach the POS.");
        }

        record.Demand.AddOrUpdate(witness, 3 * 100L * SoakSwitchAttempts.PerMode, (_, d) => d + 3 * 100L * SoakSwitchAttempts.PerMode);
        return (customers, witness);
    }

    /// <summary>
    /// With <c>--tiers</c>: the merchant defines a tier no figure reaches and puts every third customer in it by hand, so their orders
    /// earn at its multiplier whatever order the app sees them in (the generator knows the multiplier, never the app's reading of it),
    /// and every award of the run evaluates tiers under the faults.
    /// </summary>
    private static async Task PlaceInTiersAsync(List<long> customers, long witness, SoakClient client, SoakRecord record, bool placeInApp,
        CancellationToken ct)
    {
        var tier = await client.AdminSendAsync(HttpMethod.Post, "/api/admin/tiers",
            new { name = "Soak gold", threshold = 1_000_000_000_000m, multiplier = TierMultiplier }, ct);
        foreach (var c in customers.Where((c, i) => i % 3 == 0 && c != witness))
        {
            if (placeInApp)
            {
                await client.AdminSendAsync(HttpMethod.Put, $"/api/admin/customers/{c}/tier",
                    new { tierId = tier.GetProperty("id").GetInt64(), reason = "soak: a member by hand" }, ct);
            }
            record.Multipliers[c] = TierMultiplier;
        }
        if (!placeInApp) Console.WriteLine($"BROKEN {SoakBreakage.TierUnset}: {record.Multipliers.Count} customers' tiers never reached the app");
    }

    /// <summary>
    /// With <c>--tier-rules</c>: the rules, not the merchant, put customers in a tier, and the generator still knows every order's
    /// multiplier whatever order the app sees the load in. The rules count money spent over a lifetime; the tier's threshold is more
    /// than any customer's whole load could spend (every order of the run at the largest amount), so the load alone lifts no one. Every
    /// third customer first pays one entry order of exactly the threshold, awarded before the load starts: it earns at ×1 (nothing was
    /// spent before it), is never refunded, and keeps its customer in the tier, so each of their later orders earns at the tier's
    /// multiplier, refunds and cancellations of those included, and every other customer's at ×1.
    /// </summary>
    private static async Task LiftByRulesAsync(Options o, List<long> customers, long witness, BenchEnvironment env, SoakClient client,
        SoakRecord record, CancellationToken ct)
    {
        const decimal MaxOrderAmount = 300m; // SoakSchedule: orders up to 300.00, checkouts with a code up to 200.00 (in EUR)
        var threshold = MaxOrderAmount * (o.Orders + o.Conversions + 2 * o.Customers) + 1m;
        var unmet = o.Broken == SoakBreakage.TierRuleUnmet;
        await client.AdminSendAsync(HttpMethod.Put, "/api/admin/tiers/rules",
            new { basis = "money_spent", windowMonths = (int?)null, graceDays = 30 }, ct);
        await client.AdminSendAsync(HttpMethod.Post, "/api/admin/tiers",
            new { name = "Soak rules gold", threshold = unmet ? threshold + 0.01m : threshold, multiplier = TierRulesMultiplier }, ct);
        long entry = 60_000_000;
        var members = customers.Where((c, i) => i % 3 == 1 && c != witness && !record.UnknownToPos.Contains(c)).ToList();
        foreach (var c in members)
        {
            var order = entry++;
            record.Orders[order] = new SoakRecord.Order(c, threshold, threshold, 0, false, null, FirstEarnRate, Multiplier: 1m);
            await client.WebhookAsync("orders/paid", Loyalty.Sandbox.ShopifyOutbound.PaidOrder(order, c, threshold, threshold), null, ct);
            record.Multipliers[c] = TierRulesMultiplier;
        }
        if (!await WaitAsync(async () => await env.ScalarAsync<long>(
                "SELECT count(*) FROM order_earnings WHERE order_id >= 60000000 AND order_id < 70000000 AND status = 'awarded'") == members.Count,
            TimeSpan.FromMinutes(3), ct))
        {
            throw new TimeoutException("The entry orders were not all awarded before the load.");
        }
        Console.WriteLine($"{members.Count} customers paid an entry order of {threshold:0.00} EUR (the tier's threshold)" +
                          (unmet ? $"; BROKEN {SoakBreakage.TierRuleUnmet}: the threshold is a cent above it (each member's next order " +
                                   "lifts them)" : ""));
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
        ["OrderSweep:SpreadSeconds"] = "0", // the run's one shop, swept at once every 3 s (a spread must be shorter than the schedule)
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
}
