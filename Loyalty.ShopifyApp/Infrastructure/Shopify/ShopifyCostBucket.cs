using System.Collections.Concurrent;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// Shopify's GraphQL cost bucket (per app and shop): admission control in front of every Admin API call, so the app waits before
/// it sends rather than after Shopify answers THROTTLED. The bucket lives in PostgreSQL (<c>shopify_cost_buckets</c>), shared by
/// every instance: a call reserves its expected cost there up front (so callers of all instances queue in order), each
/// response's <c>throttleStatus</c> resets it, and between responses it refills at the restore rate. A call that would wait
/// longer than its caller allows reserves nothing and is told when to come back (<see cref="ShopifyThrottledException"/>), so it
/// can hand the work to a background job instead of holding a customer's request. Until a shop has answered once, nothing waits;
/// if the database cannot be asked, the call goes ahead (Shopify's own THROTTLED answer is still handled).
/// </summary>
/// <remarks>
/// Its statements read and write the shop's row by its key only, on the key lookups' pool (<see cref="Db.DbExtensions.KeyLookups"/>).
/// </remarks>
public sealed partial class ShopifyCostBucket(
    [FromKeyedServices(Db.DbExtensions.KeyLookups)] NpgsqlDataSource db, TimeProvider clock, ILogger<ShopifyCostBucket> logger)
{
    /// <summary>What this instance last saw of a bucket, for the fill metric only; at most this many shops are kept.</summary>
    private const int MaxMirrored = 10_000;

    private sealed record Seen(double Maximum, double RestoreRate, double Available, long At);

    private readonly ConcurrentDictionary<string, Seen> _mirror = new(StringComparer.OrdinalIgnoreCase);
    /// <summary>How long after its expected send time a waiting call's reservation still counts as waiting.</summary>
    private const double WaitingSlackSeconds = 10;

    /// <summary>The cost of calls reserved but not sent yet, while that lasts (SQL on the bucket's row).</summary>
    private const string Waiting = "CASE WHEN b.waiting_until > clock_timestamp() THEN b.waiting ELSE 0 END";
    private readonly ConcurrentDictionary<string, double> _costs = new(StringComparer.Ordinal);


    /// <summary>What a document cost last time (Shopify's <c>requestedQueryCost</c>); a mutation's default, 10, before that.</summary>
    public double ExpectedCost(string document) => _costs.TryGetValue(document, out var cost) ? cost : 10;

    /// <summary>
    /// Reserves <paramref name="cost"/> points. Reserved, with the time to wait before sending (zero when the bucket covers it
    /// now); or not reserved (nothing taken), with the time after which to try again, when that wait is longer than
    /// <paramref name="maxWait"/>.
    /// </summary>
    public async Task<(bool Reserved, TimeSpan Wait)> TryReserveAsync(string shop, double cost, TimeSpan maxWait, CancellationToken ct)
    {
        if (WriteUnderWay(shop) is { } writing) await writing.WaitAsync(ct); // this instance's last answer for the shop first
        (double Available, double RestoreRate, double Maximum, bool Reserved)? row;
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            row = await conn.QuerySingleOrDefaultAsync<(double, double, double, bool)?>(new CommandDefinition($"""
                WITH cur AS (
                    SELECT b.shop_domain, b.maximum, b.restore_rate, {Waiting} AS now_waiting,
                           least(b.maximum, b.available + b.restore_rate * extract(epoch FROM clock_timestamp() - b.at)) AS now_available
                    FROM shopify_cost_buckets b WHERE b.shop_domain = @shop FOR UPDATE),
                calc AS (SELECT *, greatest(0, @cost - now_available) / restore_rate AS wait_seconds FROM cur),
                reserved AS (
                    UPDATE shopify_cost_buckets b SET available = calc.now_available - @cost, at = clock_timestamp(),
                        waiting = calc.now_waiting + CASE WHEN calc.wait_seconds > 0 THEN @cost ELSE 0 END,
                        waiting_until = CASE WHEN calc.wait_seconds > 0
                            THEN greatest(coalesce(b.waiting_until, '-infinity'),
                                          clock_timestamp() + make_interval(secs => calc.wait_seconds + @slack))
                            ELSE b.waiting_until END
                    FROM calc WHERE b.shop_domain = calc.shop_domain AND calc.wait_seconds <= @maxWait
                    RETURNING 1)
                SELECT now_available, restore_rate, maximum, EXISTS (SELECT 1 FROM reserved) FROM calc
                """, new { shop, cost, maxWait = maxWait.TotalSeconds, slack = WaitingSlackSeconds }, cancellationToken: ct));
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException && !ct.IsCancellationRequested)
        {
            LogUnshared(e, shop);
            return (true, TimeSpan.Zero);
        }
        if (row is not { } b) return (true, TimeSpan.Zero);
        var wait = TimeSpan.FromSeconds(Math.Max(0, cost - b.Available) / b.RestoreRate);
        Mirror(shop, b.Maximum, b.RestoreRate, b.Reserved ? b.Available - cost : b.Available);
        return (b.Reserved, wait);
    }

    /// <summary>A call that had to wait is now being sent: Shopify will count it from here on.</summary>
    public Task SendingAsync(string shop, double cost) => UpdateAsync(shop, cost, """
        UPDATE shopify_cost_buckets SET waiting = greatest(0, waiting - @cost) WHERE shop_domain = @shop
        """);

    /// <summary>A call that waited its turn but was not sent (cancelled) gives its points back.</summary>
    public Task ReleaseAsync(string shop, double cost) => UpdateAsync(shop, cost, """
        UPDATE shopify_cost_buckets
        SET available = least(maximum, available + restore_rate * extract(epoch FROM clock_timestamp() - at) + @cost), at = clock_timestamp(),
            waiting = greatest(0, waiting - @cost)
        WHERE shop_domain = @shop
        """);

    /// <summary>Not cancelled with the call it belongs to: what it corrects is the shared bucket's, not the caller's.</summary>
    private async Task UpdateAsync(string shop, double cost, string sql)
    {
        try
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            await conn.ExecuteAsync(sql, new { shop, cost });
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            LogUnshared(e, shop);
        }
    }

    /// <summary>
    /// How full the emptiest bucket this instance has seen is now (0 empty, 1 full): its last figure for each shop, refilled at
    /// its restore rate since. Null before any shop answered.
    /// </summary>
    public double? LowestFill()
    {
        double? lowest = null;
        var now = clock.GetTimestamp();
        foreach (var b in _mirror.Values)
        {
            var fill = Math.Clamp((b.Available + b.RestoreRate * clock.GetElapsedTime(b.At, now).TotalSeconds) / b.Maximum, 0, 1);
            if (lowest is null || fill < lowest) lowest = fill;
        }
        return lowest;
    }

    /// <summary>
    /// Whether this instance last saw the shop's bucket with room for the call twice over, refilled since (or has not seen it: until a
    /// shop answered once nothing waits). A hint that a reservation will not wait, never a reservation.
    /// </summary>
    public bool LikelyCovers(string shop, double cost)
    {
        if (!_mirror.TryGetValue(shop, out var b)) return true;
        var available = Math.Min(b.Maximum, b.Available + b.RestoreRate * clock.GetElapsedTime(b.At).TotalSeconds);
        return available >= 2 * cost;
    }

    private void Mirror(string shop, double maximum, double restoreRate, double available)
    {
        if (_mirror.Count >= MaxMirrored && !_mirror.ContainsKey(shop)) _mirror.Clear(); // bounded: the metric starts over
        _mirror[shop] = new Seen(maximum, restoreRate, available, clock.GetTimestamp());
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Shopify's cost bucket of {Shop} could not be read or written in the database; the call goes ahead unshared")]
    private partial void LogUnshared(Exception e, string shop);

}

/// <summary>
/// Shopify's cost bucket for a shop will not cover a call within the time the caller allows. Nothing was sent;
/// try again after <see cref="RetryAfter"/>.
/// </summary>
public sealed class ShopifyThrottledException(string shop, TimeSpan retryAfter)
    : ShopifyUnavailableException($"Shopify's query cost bucket for {shop} is empty for the next {retryAfter.TotalSeconds:F1} s; nothing was sent.")
{
    public TimeSpan RetryAfter { get; } = retryAfter;
}
