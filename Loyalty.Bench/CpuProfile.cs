using System.Globalization;
using Dapper;

namespace Loyalty.Bench;

/// <summary>
/// Where a phase's work went (<c>--profile</c>): CPU seconds of one process and of the database's processes, read from
/// <c>/proc</c> (so the app cannot misreport them), and PostgreSQL's own count of statements by total execution time
/// (<c>pg_stat_statements</c>, loaded only when profiling), with the time it spent planning them.
/// </summary>
public static class CpuProfile
{
    private const double TicksPerSecond = 100; // USER_HZ on Linux

    /// <summary>The server option that loads pg_stat_statements (a profiled run only: it costs a little on every statement).</summary>
    public const string PostgresOptions =
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all -c pg_stat_statements.track_planning=on";

    /// <summary>CPU seconds (user + system, with reaped children) of process <paramref name="pid"/> so far; 0 once it is gone.</summary>
    public static double ProcessSeconds(int pid) => Read($"/proc/{pid}/stat") is { } f ? Seconds(f, CpuFields) : 0;

    /// <summary>CPU seconds of process <paramref name="pid"/>'s own threads (user + system), without children it reaped (a perf it ran).</summary>
    public static double OwnSeconds(int pid) => Read($"/proc/{pid}/stat") is { } f ? Seconds(f, OwnCpuFields) : 0;

    /// <summary>The bench's PostgreSQL server: the postmaster's pid from its data directory's <c>postmaster.pid</c>.</summary>
    public static int PostmasterPid(BenchEnvironment env) =>
        int.Parse(File.ReadLines(Path.Combine(env.Directory, "postgres", "postmaster.pid")).First().Trim(), CultureInfo.InvariantCulture);

    /// <summary>
    /// CPU seconds of the bench's PostgreSQL: the postmaster (with the backends it reaped) and its running children. Another cluster on
    /// the machine (a test run's) is not counted.
    /// </summary>
    public static double PostgresSeconds(int postmaster) => PostgresProcesses(postmaster).Sum(p => Seconds(p.Stat, CpuFields));

    /// <summary>
    /// Context switches so far, voluntary and not, of each thread of process <paramref name="pid"/>, by thread id: each costs the
    /// kernel's switch on the cores the targets share. Compare two readings with <see cref="SwitchesBetween"/>.
    /// </summary>
    public static Dictionary<int, long> ContextSwitches(int pid)
    {
        var byThread = new Dictionary<int, long>();
        AddThreads(pid, byThread);
        return byThread;
    }

    /// <summary>As <see cref="ContextSwitches(int)"/> for every thread of the bench's PostgreSQL (<see cref="PostgresSeconds"/>).</summary>
    public static Dictionary<int, long> PostgresContextSwitches(int postmaster)
    {
        var byThread = new Dictionary<int, long>();
        foreach (var (pid, _) in PostgresProcesses(postmaster)) AddThreads(pid, byThread);
        return byThread;
    }

    /// <summary>
    /// Switches between two readings: each thread's growth, all of a thread's count when it started in between; a thread that ended
    /// in between takes its count with it (they are reported, so a figure with many can be read as a floor).
    /// </summary>
    public static (long Switches, int Ended) SwitchesBetween(Dictionary<int, long> before, Dictionary<int, long> after) =>
        (after.Sum(t => t.Value - before.GetValueOrDefault(t.Key)), before.Keys.Count(tid => !after.ContainsKey(tid)));

    private static void AddThreads(int pid, Dictionary<int, long> byThread)
    {
        IEnumerable<string> tasks;
        try { tasks = Directory.EnumerateDirectories($"/proc/{pid}/task").ToList(); }
        catch (IOException) { return; } // the process ended
        foreach (var task in tasks)
        {
            if (!int.TryParse(Path.GetFileName(task), out var tid)) continue;
            try
            {
                var total = 0L;
                foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                {
                    if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal)
                        || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                    {
                        total += long.Parse(line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim(), CultureInfo.InvariantCulture);
                    }
                }
                byThread[tid] = total;
            }
            catch (IOException) { /* this thread ended meanwhile; the others still count */ }
        }
    }

    private static IEnumerable<(int Pid, ProcStat Stat)> PostgresProcesses(int postmaster)
    {
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            var stat = Read(Path.Combine(dir, "stat"));
            // After the comm: state, then ppid.
            if (stat is { } s && s.Comm == "postgres" && (pid == postmaster || s.Fields[1] == postmaster.ToString(CultureInfo.InvariantCulture)))
            {
                yield return (pid, s);
            }
        }
    }

    public static async Task ResetStatementsAsync(BenchEnvironment env)
    {
        await using var conn = env.Connection();
        await conn.ExecuteAsync("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        await conn.ExecuteAsync("SELECT pg_stat_statements_reset()");
    }

    /// <summary>
    /// The statements that took the most time since the reset, planning and executing, per <paramref name="unit"/> (an award, a
    /// conversion). A statement run from a trigger or a foreign key check is counted on its own as well as in the one that fired it.
    /// </summary>
    public static async Task PrintTopStatementsAsync(BenchEnvironment env, string title, long unit, int top)
    {
        await using var conn = env.Connection();
        var rows = (await conn.QueryAsync<(long Calls, double TotalMs, double PlanMs, long Plans, decimal Wal, string Query)>("""
            SELECT calls, total_exec_time, total_plan_time, plans, wal_bytes, regexp_replace(query, '\s+', ' ', 'g')
            FROM pg_stat_statements WHERE query NOT ILIKE '%pg_stat_statements%' ORDER BY total_exec_time + total_plan_time DESC LIMIT @top
            """, new { top })).ToList();
        // WAL counted by the statements that wrote it (a trigger's statements also count in the one that fired them, so top-level only).
        var all = await conn.QuerySingleAsync<(long Calls, double TotalMs, double PlanMs, decimal Wal)>("""
            SELECT coalesce(sum(calls), 0)::bigint, coalesce(sum(total_exec_time), 0), coalesce(sum(total_plan_time), 0),
                   coalesce(sum(wal_bytes) FILTER (WHERE toplevel), 0)
            FROM pg_stat_statements
            """);
        Console.WriteLine($"# {title}: {all.Calls} statements ({Stats.F((double)all.Calls / unit)} per unit), " +
                          $"{Stats.F(all.TotalMs)} ms executing ({Stats.F(all.TotalMs / unit, 3)} ms per unit), {Stats.F(all.PlanMs)} ms " +
                          $"planning ({Stats.F(all.PlanMs / unit, 3)} ms per unit), {Stats.F((double)all.Wal / unit, 0)} bytes of WAL per " +
                          $"unit; the top {top}:");
        Console.WriteLine("| calls | per unit | total ms | µs per call | plans | planning ms | WAL bytes per unit | statement |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|---|");
        foreach (var (calls, totalMs, planMs, plans, wal, query) in rows)
        {
            var text = query.Length > 110 ? query[..110] + "…" : query;
            Console.WriteLine($"| {calls} | {Stats.F((double)calls / unit)} | {Stats.F(totalMs)} | {Stats.F(totalMs * 1000 / calls, 0)} | " +
                              $"{plans} | {Stats.F(planMs)} | {Stats.F((double)wal / unit, 0)} | " +
                              $"`{text.Replace("|", "\\|", StringComparison.Ordinal)}` |");
        }
    }

    private readonly record struct ProcStat(string Comm, string[] Fields);

    private static ProcStat? Read(string path)
    {
        try
        {
            var text = File.ReadAllText(path);
            var open = text.IndexOf('(', StringComparison.Ordinal);
            var close = text.LastIndexOf(')');
            // After "pid (comm) " come the fields from the third on: state, ppid, …, utime is the 14th.
            return new ProcStat(text[(open + 1)..close], text[(close + 2)..].Split(' '));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static readonly int[] CpuFields = [11, 12, 13, 14]; // utime, stime, cutime, cstime
    private static readonly int[] OwnCpuFields = [11, 12];

    private static double Seconds(ProcStat s, int[] fields) =>
        fields.Sum(i => long.Parse(s.Fields[i], CultureInfo.InvariantCulture)) / TicksPerSecond;
}
