using System.Globalization;
using Loyalty.Bench;

// dotnet run -c Release --project Loyalty.Bench -- <webhooks|webhooks-compare|conversions|targets|soak|fleet> [options]   (see docs/benchmarks.md)
Dapper.DefaultTypeMap.MatchNamesWithUnderscores = true;
var command = args.FirstOrDefault();
string? Option(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).FirstOrDefault();
int IntOption(string name, int fallback) => Option(name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
var smoke = args.Contains("--smoke");
var durable = !args.Contains("--fast-db"); // production durability unless a figure says otherwise
var seed = IntOption("seed", Environment.TickCount & 0xFFFF);
using var cts = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) => { e.Cancel = true; cts.Cancel(); };

if (command == "conversions" && Option("floor") is { } floor && floor is not ("calls" or "commits" or "minimal")) return Usage();
if (command == "soak" && (Option("mode") is { } m && m is not ("ledger" or "pos" or "both")
                          || args.Contains("--broken") && Option("broken") is { } bn && !bn.StartsWith("--", StringComparison.Ordinal)
                              && !SoakBreakage.Names.Contains(bn)))
{
    return Usage();
}

return command switch
{
    "webhooks" => await WebhookIngest.RunAsync(
        Option("rates") is { } r ? r.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray()
            : smoke ? [100] : [250, 500, 1000, 1500, 2000],
        IntOption("seconds", smoke ? 2 : 10), seed, Option("processing") == "after", durable, IntOption("warmup-rate", 100), cts.Token),
    "webhooks-compare" => await IngestComparison.RunAsync(IntOption("deliveries", smoke ? 500 : 14_000), IntOption("connections", 32), seed, durable,
        args.Contains("--profile"), IntOption("warmup", smoke ? 1_000 : 30_000), args.Contains("--httpclient-sender"), cts.Token,
        args.Contains("--floor"), Option("ledger-floor") switch
        {
            null => [],
            "both" => [WebhookLedgerFloor.AtIntake, WebhookLedgerFloor.AfterIntake],
            WebhookLedgerFloor.AtIntake or WebhookLedgerFloor.AfterIntake => [Option("ledger-floor")!],
            var other => throw new ArgumentException($"--ledger-floor {other}: use intake, after or both."),
        }),
    "conversions" => await ConversionLoad.RunAsync(
        Option("levels") is { } l ? l.Split(',').Select(x => int.Parse(x, CultureInfo.InvariantCulture)).ToArray() : smoke ? [2] : [1, 4, 16, 32],
        IntOption("seconds", smoke ? 3 : 20), IntOption("throttle-seconds", smoke ? 3 : 60), IntOption("throttle-level", smoke ? 40 : 64),
        IntOption("bucket", smoke ? 100 : 2000), seed, durable, IntOption("warmup-seconds", smoke ? 3 : 60), cts.Token, args.Contains("--profile"),
        args.Contains("--in-step"), args.Contains("--timeline"), Option("floor")),
    FloorServer.Command => await FloorServer.RunAsync(args[1..]),
    "award-ceiling" => await AwardCeiling.RunAsync(IntOption("seconds", smoke ? 2 : 20), IntOption("rounds", smoke ? 1 : 3), IntOption("clients", 8),
        IntOption("parts", smoke ? 1 : 0), seed, cts.Token),
    "targets" => await Targets.RunAsync(seed, smoke, cts.Token),
    "soak" => await Soak.RunAsync(new Soak.Options(seed,
        Conversions: IntOption("conversions", smoke ? 150 : 5000),
        Customers: IntOption("customers", smoke ? 20 : 300),
        Orders: IntOption("orders", smoke ? 150 : 3000),
        Kills: IntOption("kills", smoke ? 1 : 5),
        Instances: IntOption("instances", 2),
        FaultRate: Option("fault-rate") is { } f ? double.Parse(f, CultureInfo.InvariantCulture) : 0.2,
        Broken: !args.Contains("--broken") ? null : Option("broken") is { } b && !b.StartsWith("--", StringComparison.Ordinal) ? b : "new-reference",
        Concurrency: IntOption("concurrency", 24),
        Modes: (Option("mode") ?? "both") == "both" ? ["ledger", "pos"] : [Option("mode")!],
        PostgresRestarts: IntOption("pg-restarts", 1),
        PostgresDownSeconds: Option("pg-down-seconds") is { } d ? double.Parse(d, CultureInfo.InvariantCulture) : 5,
        PendingDays: IntOption("pending-days", 0),
        ExpiryMonths: IntOption("expiry-months", 0),
        Tiers: args.Contains("--tiers"),
        TierRules: args.Contains("--tier-rules")), cts.Token),
    "fleet" => await Fleet.RunAsync(new Fleet.Options(seed,
        Shops: IntOption("shops", smoke ? 200 : 10_000),
        Instances: IntOption("instances", smoke ? 2 : 3),
        FloodOrders: IntOption("flood", smoke ? 2_000 : 50_000),
        Seconds: IntOption("seconds", smoke ? 60 : 600),
        TrickleSeconds: IntOption("trickle-seconds", smoke ? 20 : 180),
        DropRate: Option("drop-rate") is { } dr ? double.Parse(dr, CultureInfo.InvariantCulture) : 0.05,
        SweepMinutes: IntOption("sweep-minutes", smoke ? 1 : 5),
        TokenSeconds: IntOption("token-seconds", smoke ? 180 : 3600),
        Concurrency: IntOption("concurrency", 64),
        Durable: durable,
        Pos: args.Contains("--pos"),
        PosLatencyMs: IntOption("pos-latency-ms", 5)), cts.Token),
    _ => Usage(),
};

static int Usage()
{
    Console.Error.WriteLine(
        "usage: Loyalty.Bench webhooks [--rates 250,500,1000] [--seconds 10] [--warmup-rate 100] [--processing during|after] [--seed N] " +
        "[--smoke] [--fast-db]");
    Console.Error.WriteLine("       Loyalty.Bench webhooks-compare [--deliveries 14000] [--connections 32] [--seed N] [--smoke] [--fast-db] " +
        "[--profile] [--warmup 30000] [--httpclient-sender] [--floor] [--ledger-floor intake|after|both]");
    Console.Error.WriteLine("       Loyalty.Bench targets [--seed N] [--smoke]   (issue 16's targets judged in one run)");
    Console.Error.WriteLine("       Loyalty.Bench award-ceiling [--seconds 20] [--rounds 3] [--clients 8] [--parts 0] [--seed N] [--smoke]   " +
        "(the database's ceiling for awards at intake; --parts: what the ledger costs it)");
    Console.Error.WriteLine(
        "       Loyalty.Bench conversions [--levels 1,4,16,32] [--seconds 20] [--throttle-seconds 60] [--throttle-level 64] [--bucket 2000] " +
        "[--warmup-seconds 60] [--seed N] [--smoke] [--fast-db] [--profile] [--in-step] [--timeline] [--floor calls|commits|minimal]");
    Console.Error.WriteLine(
        "       Loyalty.Bench soak [--seed N] [--conversions 5000] [--customers 300] [--orders 3000] [--kills 5] [--instances 2] [--pg-restarts 1] " +
        "[--pg-down-seconds 5]");
    Console.Error.WriteLine("                          [--fault-rate 0.2] [--concurrency 24] [--mode ledger|pos|both] [--pending-days 0]");
    Console.Error.WriteLine("                          [--expiry-months 0] [--tiers | --tier-rules] [--smoke]");
    Console.Error.WriteLine("                          [--broken [new-reference|refund-used|delete-live|no-fence|early-release|expire-twice|" +
        "tier-unset|tier-rule-unmet|stale-list|all]]");
    Console.Error.WriteLine("       Loyalty.Bench fleet [--shops 10000] [--instances 3] [--flood 50000] [--seconds 600] [--trickle-seconds 180] " +
        "[--drop-rate 0.05] [--sweep-minutes 5] [--token-seconds 3600] [--pos [--pos-latency-ms 5]] [--seed N] [--smoke] [--fast-db]");
    return 2;
}
