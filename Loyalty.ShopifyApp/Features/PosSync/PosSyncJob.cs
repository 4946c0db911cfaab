using Dapper;
using Hangfire;
using Loyalty.Pos;
using Loyalty.ShopifyApp.Features.Settings;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>Section <c>PosSync</c>.</summary>
public sealed class PosSyncOptions
{
    public const string Section = "PosSync";

    /// <summary>Attempts before a row is parked for the merchant (about a day with the default back-off).</summary>
    public int MaxAttempts { get; set; } = 40;

    public double RetryBaseDelaySeconds { get; set; } = 10;

    public double MaxRetryDelaySeconds { get; set; } = 3600;

    public int BatchSize { get; set; } = 50;

    /// <summary>How long a claimed row is hidden from other workers while its POS call runs.</summary>
    public int LeaseSeconds { get; set; } = 120;
}

/// <summary>
/// Delivers the POS outbox: every ledger row of a POS-mode shop, with the ledger reference as the POS
/// reference, so a retry after any failure can only ever apply it once. Rows of one customer go in order
/// (a clawback never reaches the POS before the award it takes back). Transient failures and unknown
/// outcomes are retried with back-off; a row the POS refuses, or that keeps failing, is parked with its last
/// error for the merchant (<c>GET /api/admin/pos-sync</c>) and never dropped. Safe on any number of
/// instances at once: rows are claimed with <c>FOR UPDATE SKIP LOCKED</c> and a lease.
/// </summary>
public sealed partial class PosSyncJob(
    NpgsqlDataSource db,
    PosClient pos,
    PosSyncTrigger trigger,
    IDataProtectionProvider dataProtection,
    IOptions<PosSyncOptions> options,
    ILogger<PosSyncJob> logger)
{
    public const string RecurringId = "pos-sync";

    private sealed record Row(long Id, string ShopDomain, long CustomerId, string Reference, long Points, int Attempts);

    /// <summary>Delivers every due row; the outbox keeps its own retry state, so Hangfire must not retry the job.</summary>
    [AutomaticRetry(Attempts = 0)]
    public async Task DeliverDueAsync(CancellationToken ct)
    {
        var attempted = new List<long>(); // each run tries a row at most once; back-off decides the next try
        while (!ct.IsCancellationRequested)
        {
            var batch = await ClaimAsync(attempted, ct);
            if (batch.Count == 0) return;
            foreach (var row in batch)
            {
                attempted.Add(row.Id);
                await DeliverAsync(row, ct);
            }
        }
    }

    private async Task<List<Row>> ClaimAsync(List<long> attempted, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Row>(new CommandDefinition("""
            UPDATE pos_outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => @lease)
            WHERE o.id IN (
                SELECT c.id FROM pos_outbox c
                WHERE c.state = 'pending' AND c.next_attempt_at <= now() AND NOT (c.id = ANY(@attempted))
                  AND NOT EXISTS (SELECT 1 FROM pos_outbox e
                                  WHERE e.shop_domain = c.shop_domain AND e.customer_id = c.customer_id AND e.id < c.id
                                    AND e.state IN ('pending', 'parked'))
                ORDER BY c.id
                LIMIT @batch
                FOR UPDATE SKIP LOCKED)
            RETURNING o.id, o.shop_domain, o.customer_id, o.reference, o.points, o.attempts
            """, new { lease = (double)options.Value.LeaseSeconds, batch = options.Value.BatchSize, attempted = attempted.ToArray() },
            cancellationToken: ct))).ToList();
    }

    private async Task DeliverAsync(Row row, CancellationToken ct)
    {
        ShopSettings settings;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            settings = await ShopSettings.LoadAsync(conn, null, row.ShopDomain, ct);
        }
        var connection = settings.PosConnection(dataProtection);
        if (connection is null)
        {
            await FinishAsync(row, "skipped", "the shop no longer keeps its balances in a POS", null, ct);
            return;
        }

        var note = $"Loyalty {row.Reference}";
        var outcome = row.Points > 0
            ? await pos.AddAsync(connection, row.CustomerId.ToString(), row.Points, row.Reference, note, ct)
            : await pos.DeductAsync(connection, row.CustomerId.ToString(), -row.Points, row.Reference, note, ct);

        switch (outcome)
        {
            case PosOutcome.Applied applied:
                await FinishAsync(row, "delivered", null, applied.Transaction.TransactionId, ct);
                LogDelivered(row.ShopDomain, row.Reference, row.Points, applied.Replayed);
                break;
            case PosOutcome.Rejected rejected:
                await FinishAsync(row, "parked", $"the POS refused it: {rejected.Error} (HTTP {rejected.Status})", null, ct);
                LogParked(row.ShopDomain, row.Reference, rejected.Error);
                break;
            case PosOutcome.Unknown unknown when row.Attempts >= options.Value.MaxAttempts:
                await FinishAsync(row, "parked", $"still failing after {row.Attempts} attempts: {unknown.Reason}", null, ct);
                LogParked(row.ShopDomain, row.Reference, unknown.Reason);
                break;
            case PosOutcome.Unknown unknown:
                await RetryLaterAsync(row, unknown.Reason, ct);
                break;
        }
    }

    private async Task FinishAsync(Row row, string state, string? error, string? posTransactionId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE pos_outbox SET state = @state, last_error = @error, pos_transaction_id = @posTransactionId,
                delivered_at = CASE WHEN @state = 'delivered' THEN now() END
            WHERE id = @Id AND attempts = @Attempts
            """, new { state, error, posTransactionId, row.Id, row.Attempts }, cancellationToken: ct));
    }

    private async Task RetryLaterAsync(Row row, string reason, CancellationToken ct)
    {
        var o = options.Value;
        var delay = Math.Min(o.RetryBaseDelaySeconds * Math.Pow(2, row.Attempts - 1), o.MaxRetryDelaySeconds) * (0.8 + Random.Shared.NextDouble() * 0.4);
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE pos_outbox SET last_error = @reason, next_attempt_at = now() + make_interval(secs => @delay)
            WHERE id = @Id AND attempts = @Attempts AND state = 'pending'
            """, new { reason, delay, row.Id, row.Attempts }, cancellationToken: ct));
        LogRetrying(row.ShopDomain, row.Reference, row.Attempts, reason, delay);
        trigger.NotifyAfter(TimeSpan.FromSeconds(delay));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "POS sync of {Reference} ({Points} points) for {Shop} delivered (replayed: {Replayed})")]
    private partial void LogDelivered(string shop, string reference, long points, bool replayed);

    [LoggerMessage(Level = LogLevel.Warning, Message = "POS sync of {Reference} for {Shop} attempt {Attempt} failed ({Reason}); retrying in {DelaySeconds:F1} s")]
    private partial void LogRetrying(string shop, string reference, int attempt, string reason, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "POS sync of {Reference} for {Shop} parked: {Reason}")]
    private partial void LogParked(string shop, string reference, string reason);
}

/// <summary>
/// Wakes the POS sync job right after something was queued, at most once per short window per instance
/// (a burst of orders enqueues one job, not one per order). The recurring job catches anything whose
/// wake-up was lost with a dying process.
/// </summary>
public sealed class PosSyncTrigger(IBackgroundJobClient jobs)
{
    private static readonly TimeSpan Window = TimeSpan.FromMilliseconds(250);
    private long _lastEnqueued;
    private long _scheduledFor;

    public void Notify()
    {
        var now = DateTime.UtcNow.Ticks;
        var last = Interlocked.Read(ref _lastEnqueued);
        if (now - last >= Window.Ticks && Interlocked.CompareExchange(ref _lastEnqueued, now, last) == last)
        {
            jobs.Enqueue<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None));
            return;
        }
        // Inside the window: make sure one run follows it.
        var scheduled = Interlocked.Read(ref _scheduledFor);
        if (scheduled < now && Interlocked.CompareExchange(ref _scheduledFor, now + Window.Ticks, scheduled) == scheduled)
        {
            jobs.Schedule<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None), Window);
        }
    }

    /// <summary>
    /// Runs the job when a row retried with back-off becomes due (the recurring run is the safety net).
    /// Hangfire keeps schedule times in whole seconds and may start a job up to a second early, so the
    /// wake-up is set a second after the row's due time.
    /// </summary>
    public void NotifyAfter(TimeSpan delay) =>
        jobs.Schedule<PosSyncJob>(j => j.DeliverDueAsync(CancellationToken.None), delay + TimeSpan.FromSeconds(1));
}
