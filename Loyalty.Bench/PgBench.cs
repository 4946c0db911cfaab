using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Dapper;

namespace Loyalty.Bench;

/// <summary>The database's own ceiling in the same run: pgbench, one insert of a webhook-sized row per transaction.</summary>
public static partial class PgBench
{
    [GeneratedRegex(@"tps = ([0-9.]+)")]
    private static partial Regex Tps();

    [GeneratedRegex(@"number of transactions actually processed: ([0-9]+)")]
    private static partial Regex Processed();

    [GeneratedRegex(@"number of failed transactions: ([0-9]+)")]
    private static partial Regex Failed();

    public static async Task<double> InsertCeilingAsync(BenchEnvironment env, int seconds, int clients, CancellationToken ct)
    {
        await using (var conn = env.Connection())
        {
            await conn.ExecuteAsync(
                "CREATE TABLE IF NOT EXISTS bench_ceiling (id bigserial PRIMARY KEY, webhook_id text UNIQUE, payload text, received_at timestamptz " +
                "DEFAULT now())");
        }
        var script = Path.Combine(env.Directory, "ceiling.sql");
        await File.WriteAllTextAsync(script,
            "INSERT INTO bench_ceiling (webhook_id, payload) VALUES (md5(random()::text || clock_timestamp()::text), repeat('x', 1500));\n", ct);
        return (await RunAsync(env, script, "simple", seconds, clients, null, ct)).Tps;
    }

    /// <summary>
    /// Runs <paramref name="script"/> with pgbench in the given protocol mode, its sessions started with <paramref name="serverOptions"/>
    /// (<c>PGOPTIONS</c>) if given: its tps and the transactions it counted.
    /// </summary>
    public static async Task<(double Tps, long Processed)> RunAsync(BenchEnvironment env, string script, string mode, int seconds, int clients,
        string? serverOptions, CancellationToken ct)
    {
        var bin = Environment.GetEnvironmentVariable("LOYALTY_PG_BIN") is { Length: > 0 } custom ? custom
            : Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin")).First(
                d => File.Exists(Path.Combine(d, "pgbench")));
        var psi = new ProcessStartInfo(Path.Combine(bin, "pgbench"),
            ["-n", "-M", mode, "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2", "-T", seconds.ToString(CultureInfo.InvariantCulture),
             "-f", script, "-h", "127.0.0.1", "-p", env.Postgres.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "loyalty_bench"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (serverOptions is not null) psi.Environment["PGOPTIONS"] = serverOptions;
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync(ct);
        var errors = await p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        var (tps, processed, failed) = (Tps().Match(output), Processed().Match(output), Failed().Match(output));
        if (p.ExitCode != 0 || !tps.Success || !processed.Success || failed.Success && failed.Groups[1].Value != "0")
        {
            throw new InvalidOperationException($"pgbench failed (exit {p.ExitCode}): " + output + errors);
        }
        return (double.Parse(tps.Groups[1].Value, CultureInfo.InvariantCulture), long.Parse(processed.Groups[1].Value, CultureInfo.InvariantCulture));
    }
}
