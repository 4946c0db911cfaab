using System.Diagnostics;

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
/// The run's phases are in their own files: seed (the environment, the shop and the opening balances), load and kill,
/// settle; <see cref="SoakChecker"/> then judges.
/// </summary>
public static partial class Soak
{
    public sealed record Options(int Seed, int Conversions, int Customers, int Orders, int Kills, int Instances, double FaultRate, string? Broken,
        int Concurrency, IReadOnlyList<string> Modes, int PostgresRestarts = 1, double PostgresDownSeconds = 5, int PendingDays = 0,
        int ExpiryMonths = 0, bool Tiers = false, bool TierRules = false);

    /// <summary>The shop's earn rate when the run starts, and after the merchant changes it a third of the way through.</summary>
    public const decimal FirstEarnRate = 1.5m, SecondEarnRate = 2.25m;

    /// <summary>With <c>--tiers</c>: the multiplier of the tier the merchant puts a third of the customers in by hand.</summary>
    public const decimal TierMultiplier = 1.5m;

    /// <summary>With <c>--tier-rules</c>: the multiplier of the tier the rules lift every third customer into (money spent, lifetime).</summary>
    public const decimal TierRulesMultiplier = 2m;

    /// <summary>Where in the load the merchant changes the earn rate (every order before it awarded first).</summary>
    public const double RateChangeAt = 0.35;

    /// <summary>The app's Conversion:MetafieldMaxEntries, set for the run (the checker knows the bound it must see).</summary>
    public const int MetafieldMaxEntries = 50;

    public static async Task<int> RunAsync(Options o, CancellationToken ct)
    {
        ThreadPool.SetMinThreads(128, 128);
        if (o.TierRules && (o.Tiers || o.PendingDays > 0))
        {
            // Pending orders do not count toward a tier until released, and members by hand would hide what the rules decide.
            Console.Error.WriteLine("--tier-rules runs without --tiers and without --pending-days.");
            return 2;
        }
        var total = 0;
        var quiescence = new List<string>();
        foreach (var mode in o.Modes)
        {
            var (violations, quiet) = await RunModeAsync(o, mode, ct);
            total += violations;
            quiescence.Add($"{mode} {quiet.TotalSeconds:F1} s");
        }
        Console.WriteLine(
            $"RESULT: {total} violations (seed {o.Seed}, modes {string.Join("+", o.Modes)}, quiescence {string.Join(", ", quiescence)})");
        return total == 0 ? 0 : 1;
    }

    private static async Task<(int Violations, TimeSpan Quiescence)> RunModeAsync(Options o, string mode, CancellationToken ct)
    {
        Console.WriteLine(
            $"# soak ({mode} mode): seed {o.Seed}, {o.Conversions} conversions, {o.Customers} customers, {o.Orders} orders, {o.Instances} " +
            $"instances, " +
                          $"{o.Kills} kills, {o.PostgresRestarts} PostgreSQL restarts ({o.PostgresDownSeconds:0.#} s down), fault rate " +
                              $"{o.FaultRate}" +
                          $"{(o.PendingDays == 0 ? "" : $", pending period {o.PendingDays} days")}" +
                          $"{(o.ExpiryMonths == 0 ? "" : $", points expire after {o.ExpiryMonths} months")}" +
                          $"{(o.Tiers ? $", a third of the customers in a ×{TierMultiplier} tier set by hand" : "")}" +
                          $"{(o.TierRules ? $", a third of the customers lifted by the rules into a ×{TierRulesMultiplier} tier" : "")}" +
                          $"{(o.Broken is null ? "" : $", BROKEN variant {o.Broken}")}");
        var random = new Random(o.Seed);
        await using var env = await BenchEnvironment.StartAsync(o.Seed, ct);
        await StartShopAsync(o, mode, env, ct);
        var record = new SoakRecord(mode) { EarnRate = FirstEarnRate, PendingDays = o.PendingDays, ExpiryMonths = o.ExpiryMonths };
        using var client = new SoakClient(env, record);
        var (customers, witness) = await SeedAsync(o, random, env, client, record, ct);
        var rateChange = await LoadAsync(o, random, env, client, record, customers, witness, ct);
        var (quiescence, stuck) = await SettleAsync(env, client, record, ct);
        if (o.ExpiryMonths > 0) stuck ??= await JumpPastExpiryAsync(env, client, record, ct);

        // A broken variant acts on the settled system, so what the checker finds is the bug's doing alone.
        if (o.Broken is { } broken)
        {
            await SoakBreakage.BreakAsync(broken, env, client, record, ct);
            await Task.Delay(500, ct); // what the tampering set off (a POS sync of an adjustment) is under way before the check starts
            await WaitAsync(async () => await SoakChecker.InFlightAsync(env) == 0, TimeSpan.FromMinutes(1), ct);
        }

        var verdict = await SoakChecker.CheckAsync(env, client, record, ct);
        if (rateChange.Status != 200) verdict.Add("rate change", 1,
            [$"the mid-run earn rate change did not happen: {rateChange.Status} {rateChange.Code}"]);
        if (stuck is not null) verdict.Add("quiescence", 1, [$"not quiescent 10 minutes after the faults stopped: {stuck}"]);
        await SoakReport.PrintAsync(env, record, verdict, ct);
        Console.WriteLine($"mode {mode}: {verdict.Violations} violations");
        return (verdict.Violations, quiescence);
    }

    public static async Task<bool> WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken ct)
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
