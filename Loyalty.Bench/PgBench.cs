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
        var bin = Environment.GetEnvironmentVariable("LOYALTY_PG_BIN") is { Length: > 0 } custom ? custom
            : Directory.GetDirectories("/usr/lib/postgresql").OrderDescending().Select(d => Path.Combine(d, "bin")).First(
                d => File.Exists(Path.Combine(d, "pgbench")));
        var psi = new ProcessStartInfo(Path.Combine(bin, "pgbench"),
            ["-n", "-c", clients.ToString(CultureInfo.InvariantCulture), "-j", "2", "-T", seconds.ToString(CultureInfo.InvariantCulture), "-f",
                script,
             "-h", "127.0.0.1", "-p", env.Postgres.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "loyalty_bench"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var p = Process.Start(psi)!;
        var output = await p.StandardOutput.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        var m = Tps().Match(output);
        return m.Success ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException("pgbench gave no tps: " + output + await p.StandardError.ReadToEndAsync(ct));
    }
}
