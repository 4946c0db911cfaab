using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// Finishes or compensates every conversion a request could not: claims due conversions that nobody is
/// driving (<c>FOR UPDATE SKIP LOCKED</c> and a lease) and runs the same saga steps the request runs. Safe to
/// run on several instances at once and to run twice; what it cannot settle goes to <c>needs_review</c>.
/// </summary>
public sealed partial class ConversionReconciler(
    NpgsqlDataSource db, ConversionSaga saga, IOptions<ConversionOptions> options, ILogger<ConversionReconciler> logger)
{
    public const string RecurringId = "conversion-reconciler";

    [AutomaticRetry(Attempts = 0)]
    public async Task<int> RunAsync(CancellationToken ct)
    {
        var total = 0;
        while (!ct.IsCancellationRequested)
        {
            var batch = await ClaimAsync(ct);
            if (batch.Count == 0) break;

            // Conversions of a batch are driven side by side: a step may wait (for Shopify's API budget, a slow POS)
            // and the others need not wait behind it. The lease covers the whole batch from the claim, so what has not
            // started when half of it has passed goes back for the next claim instead of outliving it.
            var claimed = System.Diagnostics.Stopwatch.StartNew();
            var handedBack = new System.Collections.Concurrent.ConcurrentBag<ConversionRow>();
            await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = options.Value.ReconcilerParallelism,
                CancellationToken = ct },
                async (c, token) =>
                {
                    // The reconciler's own lines about a conversion carry its ids, like the saga's lines inside.
                    using var scope = logger.BeginConversionScope(c.ShopDomain, c.CustomerId, c.Id);
                    if (claimed.Elapsed.TotalSeconds > options.Value.LeaseSeconds / 2.0)
                    {
                        handedBack.Add(c);
                        return;
                    }
                    try
                    {
                        var after = await saga.DriveAsync(c, token);
                        if (after.State != c.State) LogMoved(c.Id, c.State, after.State);
                    }
                    catch (Exception e) when (e is not OperationCanceledException)
                    {
                        LogFailed(e, c.Id, c.State);
                    }
                    finally
                    {
                        await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
                        // Due again after the retry delay, unless a step set its own time (e.g. when Shopify's API budget allows).
                        await conn.ExecuteAsync(new CommandDefinition("""
                            UPDATE conversions SET locked_until = NULL,
                                next_attempt_at = CASE WHEN next_attempt_at > now() THEN next_attempt_at
                                                       ELSE now() + make_interval(secs => @delay) END
                            WHERE id = @id AND lease_token = @token
                            """, new { id = c.Id, token = c.LeaseToken, delay = (double)options.Value.RetryDelaySeconds }));
                    }
                    Interlocked.Increment(ref total);
                });
            if (!handedBack.IsEmpty)
            {
                await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
                await conn.ExecuteAsync(new CommandDefinition("""
                    UPDATE conversions c SET locked_until = NULL FROM unnest(@ids, @tokens) AS h(id, token)
                    WHERE c.id = h.id AND c.lease_token = h.token
                    """, new { ids = handedBack.Select(h => h.Id).ToArray(), tokens = handedBack.Select(h => h.LeaseToken!.Value).ToArray() }));
            }
        }
        return total;
    }

    /// <summary>A conversion (alias <c>c</c>) the reconciler should drive now and nobody is driving.</summary>
    private const string Due = """
        (c.state IN ('pending', 'coupon_created', 'settling', 'compensating')
         OR (c.state = 'completed' AND (c.metafield_synced_at IS NULL OR c.coupon_status = 'cancelling')
             -- a metafield write the merchant was asked to look at waits for them (cancellations do not)
             AND NOT (c.coupon_status <> 'cancelling' AND EXISTS (
                 SELECT 1 FROM coupon_incidents i WHERE i.conversion_id = c.id AND i.kind = 'metafield_write_failed' AND i.resolved_at IS NULL))))
        AND c.next_attempt_at <= now() AND (c.locked_until IS NULL OR c.locked_until < now())
        """;

    /// <summary>
    /// Claims a batch of due conversions nobody drives (a lease each). Conversions in flight (coupons and points) come before
    /// metafield writes and cancellations, across all shops; within each, shops take turns: every shop's first before any shop's
    /// second, up to <see cref="ConversionOptions.ReconcilerMaxPerShop"/> of one shop, and only then more of a shop to fill the
    /// batch. So a shop with many waiting cannot crowd out another shop's customer, and alone it still fills whole batches.
    /// </summary>
    internal async Task<List<ConversionRow>> ClaimAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<ConversionRow>(new CommandDefinition($"""
            WITH due AS (
                SELECT c.id, row_number() OVER (PARTITION BY c.shop_domain ORDER BY c.state = 'completed', c.next_attempt_at, c.id) AS turn,
                       c.state = 'completed' AS later, c.next_attempt_at
                FROM conversions c
                WHERE {Due}),
            picked AS (
                SELECT c.id AS picked_id FROM conversions c JOIN due d ON d.id = c.id
                WHERE {Due} -- again on the row as locked: another run may have claimed, driven or finished it since `due` was read
                ORDER BY d.later, d.turn > @perShop, d.turn, d.next_attempt_at, c.id
                LIMIT @batch
                FOR UPDATE OF c SKIP LOCKED)
            UPDATE conversions c SET locked_until = now() + make_interval(secs => @lease), lease_token = gen_random_uuid(),
                attempts = c.attempts + 1
            FROM picked WHERE c.id = picked.picked_id
            RETURNING {ConversionRow.Columns}
            """, new
        {
            lease = (double)options.Value.LeaseSeconds, batch = options.Value.ReconcilerBatchSize, perShop = options.Value.ReconcilerMaxPerShop,
        }, cancellationToken: ct))).ToList();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconciler moved conversion {ConversionId} from {From} to {To}")]
    private partial void LogMoved(string conversionId, string from, string to);

    [LoggerMessage(Level = LogLevel.Error, Message = "Reconciler could not drive conversion {ConversionId} ({State}); it stays due")]
    private partial void LogFailed(Exception e, string conversionId, string state);
}

/// <summary>
/// Runs the reconciler when a conversion that waits for Shopify's API budget becomes due, instead of at the next
/// recurring run (a minute away by default). One wake-up per second per instance however many conversions wait;
/// Hangfire keeps schedule times in whole seconds, so each is set a second after the due time. The recurring run
/// still catches anything whose wake-up was lost with a dying process.
/// </summary>
public sealed class ConversionTrigger(IBackgroundJobClient jobs, TimeProvider clock)
{
    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, byte> _scheduled = new();

    public void WakeAfter(TimeSpan delay)
    {
        var now = clock.GetUtcNow().ToUnixTimeSeconds();
        var at = (clock.GetUtcNow() + delay).ToUnixTimeSeconds() + 1;
        foreach (var past in _scheduled.Keys.Where(s => s < now)) _scheduled.TryRemove(past, out _);
        if (!_scheduled.TryAdd(at, 0)) return;
        jobs.Schedule<ConversionReconciler>(j => j.RunAsync(CancellationToken.None), DateTimeOffset.FromUnixTimeSeconds(at));
    }
}
