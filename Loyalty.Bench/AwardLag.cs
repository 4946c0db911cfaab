using System.Collections.Concurrent;
using Dapper;

namespace Loyalty.Bench;

/// <summary>
/// Delivery → balance, per step of the webhook bench: when the generator first had a paid order acknowledged (its own
/// clock), and when the award's transaction wrote it (PostgreSQL's clock on the same machine). Also the inbox's backlog,
/// sampled every second while a step runs, to show whether it grows. Reported only; the verdict stays the generator's
/// count of distinct orders against the awards.
/// </summary>
public sealed class AwardLag(BenchEnvironment env)
{
    private readonly ConcurrentDictionary<long, (DateTime AckedAt, int Step)> _acked = new();
    private readonly ConcurrentDictionary<int, long> _maxBacklog = new();
    private readonly ConcurrentDictionary<int, long> _lastBacklog = new();

    public void Acknowledged(long order, int step) => _acked.TryAdd(order, (DateTime.UtcNow, step));

    /// <summary>Samples the backlog every second until <paramref name="ct"/> is cancelled (the step ends).</summary>
    public async Task SampleBacklogAsync(int step, CancellationToken ct)
    {
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var backlog = await env.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing')");
                _maxBacklog.AddOrUpdate(step, backlog, (_, m) => Math.Max(m, backlog));
                _lastBacklog[step] = backlog;
                await Task.Delay(1000, ct);
            }
        }
        catch (OperationCanceledException)
        {
            // the step is over
        }
    }

    public sealed record Row(int Step, int Awards, double P50, double P99, double Max, double Within2s, long MaxBacklog, long EndBacklog);

    /// <summary>Once drained: per step, how long acknowledged orders waited for their award.</summary>
    public async Task<List<Row>> ReportAsync()
    {
        await using var conn = env.Connection();
        var awarded = (await conn.QueryAsync<(long Order, DateTime At)>(
            "SELECT order_id, created_at FROM point_transactions WHERE kind = 'order_award'")).ToDictionary(a => a.Order, a => a.At);
        return [.. _acked.GroupBy(a => a.Value.Step).OrderBy(g => g.Key).Select(g =>
        {
            var lags = new Stats();
            var within = 0;
            foreach (var (order, (ackedAt, _)) in g)
            {
                if (!awarded.TryGetValue(order, out var at)) continue;
                var ms = Math.Max(0, (at.ToUniversalTime() - ackedAt).TotalMilliseconds);
                lags.Add(ms);
                if (ms <= 2000) within++;
            }
            return new Row(g.Key, lags.Count, lags.Percentile(50), lags.Percentile(99), lags.Max, 100.0 * within / Math.Max(1, lags.Count),
                _maxBacklog.GetValueOrDefault(g.Key), _lastBacklog.GetValueOrDefault(g.Key));
        })];
    }
}
