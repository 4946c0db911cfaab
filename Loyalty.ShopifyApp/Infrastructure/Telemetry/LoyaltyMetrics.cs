using System.Diagnostics.Metrics;

namespace Loyalty.ShopifyApp.Infrastructure.Telemetry;

/// <summary>
/// The app's own <c>Meter("Loyalty")</c>: what the database knows and what the features count. Instruments about
/// Shopify's rate limit and Hangfire's runs sit beside what they measure (<c>ShopifyMetrics</c>, <c>JobRunMetrics</c>).
/// Counters are added to where the thing happens (after its transaction commits); the gauges read the database with
/// one cheap query, cached for <see cref="TelemetryOptions.GaugeCacheSeconds"/> so every exporter collection costs at
/// most one round trip.
/// </summary>
public sealed class LoyaltyMetrics
{
    public const string MeterName = "Loyalty";
    private readonly NpgsqlDataSource _db;
    private readonly TimeProvider _clock;
    private readonly TimeSpan _cacheFor;
    private readonly Counter<long> _awards;
    private readonly Counter<long> _awardedPoints;
    private readonly Lock _gate = new();
    private Snapshot? _snapshot;
    private DateTimeOffset _readAt;

    public LoyaltyMetrics(IMeterFactory meters, NpgsqlDataSource db, TimeProvider clock, IOptions<TelemetryOptions> options)
    {
        _db = db;
        _clock = clock;
        _cacheFor = TimeSpan.FromSeconds(options.Value.GaugeCacheSeconds);
        var meter = meters.Create(MeterName);
        _awards = meter.CreateCounter<long>("loyalty.awards", "{award}", "Orders that earned points");
        _awardedPoints = meter.CreateCounter<long>("loyalty.points.awarded", "{point}", "Points awarded for orders");
        meter.CreateObservableGauge("loyalty.webhooks.backlog", () => Read()?.WebhookBacklog ?? 0, "{delivery}",
            "Webhook deliveries received and not yet processed (pending or processing)");
        meter.CreateObservableGauge("loyalty.webhooks.oldest_pending_age", () => Read()?.OldestPendingSeconds ?? 0, "s",
            "Age of the oldest unprocessed webhook delivery");
        meter.CreateObservableGauge("loyalty.conversions", () => (Read()?.Conversions ?? [])
            .Select(c => new Measurement<long>(c.Count, new KeyValuePair<string, object?>("state", c.State))), "{conversion}",
            "Points-to-coupon conversions by state");
        meter.CreateObservableGauge("loyalty.conversions.needs_review", () => Read()?.NeedsReview ?? 0, "{conversion}",
            "Conversions waiting for a merchant's review");
        meter.CreateObservableGauge("loyalty.pos_outbox.stuck", () => (Read()?.PosStuck ?? [])
            .Select(c => new Measurement<long>(c.Count, new KeyValuePair<string, object?>("state", c.State))), "{entry}",
            "POS outbox rows parked (gave up retrying) or refused by the POS");
    }

    /// <summary>An order earned points (counted once its transaction committed).</summary>
    public void Awarded(long points, string source)
    {
        var tag = new KeyValuePair<string, object?>("source", source);
        _awards.Add(1, tag);
        _awardedPoints.Add(points, tag);
    }

    private sealed record StateCount(string State, long Count);

    private sealed record Snapshot(long WebhookBacklog, double OldestPendingSeconds, IReadOnlyList<StateCount> Conversions, long NeedsReview,
        IReadOnlyList<StateCount> PosStuck);

    /// <summary>The cached snapshot; null when the database cannot be read (the gauges then report nothing new).</summary>
    private Snapshot? Read()
    {
        lock (_gate)
        {
            var now = _clock.GetUtcNow();
            if (_snapshot is not null && now - _readAt < _cacheFor) return _snapshot;
            try
            {
                using var conn = _db.OpenConnection();
                using var grid = conn.QueryMultiple(new CommandDefinition("""
                    SELECT count(*), coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8
                      FROM webhook_deliveries WHERE status IN ('pending', 'processing');
                    SELECT state, count(*) AS count FROM conversions GROUP BY state;
                    SELECT state, count(*) AS count FROM pos_outbox WHERE state IN ('parked', 'refused') GROUP BY state;
                    """, commandTimeout: 5));
                var (backlog, oldest) = grid.ReadSingle<(long, double)>();
                var conversions = grid.Read<StateCount>().ToList();
                var pos = grid.Read<StateCount>().ToList();
                _snapshot = new Snapshot(backlog, oldest, conversions, conversions.Where(c => c.State == "needs_review").Sum(c => c.Count), pos);
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                _snapshot = null;
            }
            _readAt = now;
            return _snapshot;
        }
    }
}
