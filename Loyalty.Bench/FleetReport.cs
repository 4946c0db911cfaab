using System.Collections.Concurrent;
using Dapper;

namespace Loyalty.Bench;

/// <summary>
/// The many-shops scenario's figures. The verdict is the generator's: every planned order (sent or dropped) awarded exactly once.
/// Reported beside it, against issue 19's targets: a quiet shop's delivery → award while the flood runs (from when the generator first
/// sent it, by its clock, to the award's transaction, by PostgreSQL's on the same machine); the gaps between each shop's sweeps (sampled every
/// 5 s); tokens used past their expiry and refreshes per 10 s, and THROTTLED answers per shop, as the Shopify simulator saw them;
/// each instance's peak RSS.
/// </summary>
public sealed partial class FleetReport(BenchEnvironment env, Fleet.Options o, List<Fleet.PlannedOrder> plan)
{
    private readonly ConcurrentDictionary<long, DateTime> _acked = new();
    private readonly ConcurrentDictionary<string, SortedSet<DateTime>> _sweeps = new();
    private readonly DateTime _start = DateTime.UtcNow;
    private readonly Dictionary<string, long> _deepestQueue = new(StringComparer.Ordinal);
    private double _mostOverdue;

    /// <summary>The order's webhook was acknowledged; <paramref name="sentAt"/> is when it was first sent (its arrival).</summary>
    public void Delivered(Fleet.PlannedOrder p, DateTime sentAt) => _acked.TryAdd(p.Id, sentAt);

    /// <summary>Each shop's sweeps as they happen: the distinct times of its last completed run.</summary>
    public async Task SampleSweepsAsync(CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                foreach (var app in env.Apps) _ = app.PeakRssKb; // sampled while the load runs
                await using (var conn = env.Connection())
                {
                    foreach (var (shop, at) in await conn.QueryAsync<(string, DateTime)>(
                                 "SELECT shop_domain, last_run_at FROM order_sweeps WHERE last_error IS NULL"))
                    {
                        var runs = _sweeps.GetOrAdd(shop, _ => []);
                        lock (runs) runs.Add(at.ToUniversalTime());
                    }
                    // The job system's own backlog, to tell a late sweep or refresh apart: jobs waiting for a worker, per queue, and
                    // how long the most overdue scheduled job has waited to be enqueued (Hangfire's schedule set, scored by due time).
                    foreach (var (queue, waiting) in await conn.QueryAsync<(string, long)>(
                                 "SELECT queue, count(*) FROM hangfire.jobqueue WHERE fetchedat IS NULL GROUP BY queue"))
                    {
                        _deepestQueue[queue] = Math.Max(_deepestQueue.GetValueOrDefault(queue), waiting);
                    }
                    _mostOverdue = Math.Max(_mostOverdue, await conn.ExecuteScalarAsync<double?>(
                        "SELECT extract(epoch FROM now()) - min(score) FROM hangfire.set WHERE key = 'schedule'") ?? 0);
                }
                await Task.Delay(5000, ct);
            }
        }
        catch (OperationCanceledException)
        {
            // the run is over
        }
    }

    public async Task<int> PrintAsync()
    {
        await using var conn = env.Connection();
        var awards = (await conn.QueryAsync<(long Order, string Shop, int Rows, DateTime At)>("""
            SELECT order_id, shop_domain, count(*)::int, min(created_at) FROM point_transactions
            WHERE kind = 'order_award' AND order_id >= 100000000 GROUP BY order_id, shop_domain
            """)).ToDictionary(a => a.Order);
        var lost = plan.Where(p => !awards.TryGetValue(p.Id, out var a) || a.Shop != p.Shop).ToList();
        var doubled = awards.Values.Count(a => a.Rows > 1);
        var dropped = plan.Where(p => p.Dropped).ToList();
        var droppedFound = dropped.Count(p => awards.ContainsKey(p.Id));

        // A quiet shop's delivery → award, for the trickle's webhooks acknowledged while the flood ran.
        var quiet = new Stats();
        var within5 = 0;
        foreach (var p in plan.Where(p => !p.Flood && !p.Dropped))
        {
            if (!_acked.TryGetValue(p.Id, out var acked) || !awards.TryGetValue(p.Id, out var a)) continue;
            var ms = Math.Max(0, (a.At.ToUniversalTime() - acked).TotalMilliseconds);
            quiet.Add(ms);
            if (ms <= 5000) within5++;
        }
        var flood = new Stats();
        foreach (var p in plan.Where(p => p.Flood))
        {
            if (_acked.TryGetValue(p.Id, out var acked) && awards.TryGetValue(p.Id, out var a))
                flood.Add(Math.Max(0, (a.At.ToUniversalTime() - acked).TotalMilliseconds));
        }

        // Sweeps: the longest a shop went without one, from the load's start to the last sample.
        var end = DateTime.UtcNow;
        var interval = TimeSpan.FromMinutes(o.SweepMinutes);
        var gaps = Enumerable.Range(0, o.Shops).Select(Fleet.ShopName).Select(shop =>
        {
            var runs = _sweeps.TryGetValue(shop, out var r) ? [.. r.Where(t => t >= _start)] : new List<DateTime>();
            var points = runs.Prepend(_start).Append(end).ToList();
            return (shop, Max: points.Zip(points.Skip(1), (a, b) => b - a).Max(), Runs: runs.Count);
        }).ToList();
        var late = gaps.Count(g => g.Max > interval + TimeSpan.FromSeconds(30));

        var traffic = env.Shopify.Traffic();
        var expired = traffic.Values.Sum(t => t.ExpiredTokenUses);
        var refreshes = traffic.Values.SelectMany(t => t.Refreshes).ToList();
        // Per 10 s from the first refresh to the last, the quiet windows included: how evenly the refreshes came.
        var windows = refreshes.Count == 0 ? [] : refreshes.GroupBy(r => r.ToUnixTimeSeconds() / 10).ToDictionary(g => g.Key, g => g.Count());
        var perTen = windows.Count == 0 ? [0] : Enumerable.Range(0, (int)(windows.Keys.Max() - windows.Keys.Min()) + 1)
            .Select(k => windows.GetValueOrDefault(windows.Keys.Min() + k)).ToList();
        var worstThrottled = traffic.Where(t => t.Value.Requests > 0)
            .Select(t => (Shop: t.Key, Ratio: (double)t.Value.Throttled / t.Value.Requests, t.Value.Requests)).OrderByDescending(t => t.Ratio)
            .FirstOrDefault();

        Console.WriteLine($"orders: {plan.Count} planned ({plan.Count(p => p.Flood)} flood, {dropped.Count} dropped webhooks); awarded " +
                          $"{awards.Count}, lost {lost.Count}, doubled {doubled}; dropped ones found by the sweep {droppedFound} of {dropped.Count}");
        Console.WriteLine($"quiet shops' delivery → award during the flood: p50 {quiet.Percentile(50) / 1000:F2} s, p99 " +
                          $"{quiet.Percentile(99) / 1000:F2} s, max {quiet.Max / 1000:F2} s, " +
                          $"within 5 s {100.0 * within5 / Math.Max(1, quiet.Count):F1} % " +
                          $"of {quiet.Count} (the flood shop's own: p50 {flood.Percentile(50) / 1000:F2} s, max {flood.Max / 1000:F2} s)");
        Console.WriteLine($"sweeps: interval {interval.TotalMinutes:F0} min; longest gap of any shop {gaps.Max(g => g.Max).TotalSeconds:F0} s; " +
                          $"shops past interval + 30 s: {late}; never swept: {gaps.Count(g => g.Runs == 0)}");
        Console.WriteLine("jobs: deepest backlog waiting for a worker " + (_deepestQueue.Count == 0 ? "0"
                              : string.Join(", ", _deepestQueue.OrderBy(q => q.Key, StringComparer.Ordinal).Select(q => $"{q.Key} {q.Value}")))
                          + $"; most overdue scheduled job {Math.Max(0, _mostOverdue):F1} s (sampled every 5 s)");
        var lapses = traffic.Values.Sum(t => t.TokenLapses);
        var expiredAtEnd = traffic.Values.Count(t => t.TokenValidUntil < DateTimeOffset.UtcNow);
        Console.WriteLine($"tokens: {refreshes.Count} refreshes (busiest 10 s: {perTen.Max()}, mean {perTen.Average():F1}); requests with an " +
                          $"expired token: {expired}; a shop's token expired before the next was issued: {lapses} times; shops whose token " +
                          $"has expired at the end: {expiredAtEnd}");
        Console.WriteLine($"Shopify: {traffic.Values.Sum(t => t.Requests)} Admin API requests, {traffic.Values.Sum(t => t.Throttled)} THROTTLED; " +
                          $"worst shop {worstThrottled.Shop} {100 * worstThrottled.Ratio:F2} % of {worstThrottled.Requests}");
        Console.WriteLine("peak RSS: " + string.Join(", ", env.Apps.Select(a => $"app {a.Number} {a.PeakRssKb / 1024} MiB")));
        foreach (var p in lost.Take(5)) Console.WriteLine($"VIOLATION order {p.Id} of {p.Shop} (dropped: {p.Dropped}) never awarded");
        var (posOk, posLines) = o.Pos ? JudgePos() : (true, []);
        foreach (var line in posLines) Console.WriteLine(line);
        if (lapses > 0 || expiredAtEnd > 0) Console.WriteLine($"VIOLATION tokens: {lapses} lapsed, {expiredAtEnd} expired at the end");
        var ok = lost.Count == 0 && doubled == 0 && posOk && lapses == 0 && expiredAtEnd == 0;
        Console.WriteLine(ok ? $"RESULT: every paid order awarded exactly once ({awards.Count} of {plan.Count}), {droppedFound} found by the sweep, "
                               + "no token lapsed"
                               + (o.Pos ? "; every award applied once at the POS, every POS balance exact" : "")
            : $"RESULT: FAILED: {lost.Count} orders lost, {doubled} doubled" + (o.Pos && !posOk ? "; the POS does not hold the awards" : "")
              + (lapses > 0 || expiredAtEnd > 0 ? "; tokens lapsed" : ""));
        return ok ? 0 : 1;
    }
}
