using Hangfire;

namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>
/// Delivers the POS outbox: every ledger row of a POS-mode shop, with the ledger reference as the POS
/// reference, so a retry after any failure can only ever apply it once. A customer's row waits while an earlier
/// row of theirs is pending or parked, whose outcome is still open (a clawback never reaches the POS before the
/// award it takes back). Transient failures and unknown outcomes are retried with back-off and parked after
/// <see cref="PosSyncOptions.MaxAttempts"/>; a row the POS refuses is <see cref="PosOutboxState.Refused"/>, keeps
/// the POS's error code and holds nothing back (the rule per state: <see cref="PosOutboxState"/>). Nothing is
/// dropped: both are shown to the merchant (<c>GET /api/admin/pos-sync</c>) and can be retried. Safe on any number
/// of instances at once: rows are claimed with <c>FOR UPDATE SKIP LOCKED</c> and a lease. Shops are served in turns (every shop
/// with rows due gets its oldest into a batch before any shop gets a second), and a batch's shops are sent to in parallel lanes
/// (<see cref="PosSyncOptions.Parallelism"/>), each shop's rows in order, so one shop's backlog or slow POS delays no other shop.
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
            attempted.AddRange(batch.Select(r => r.Id));
            var started = new System.Collections.Concurrent.ConcurrentDictionary<long, bool>();
            try
            {
                await Parallel.ForEachAsync(batch.GroupBy(r => r.ShopDomain),
                    new ParallelOptions { MaxDegreeOfParallelism = options.Value.Parallelism, CancellationToken = ct }, async (lane, _) =>
                    {
                        foreach (var row in lane.OrderBy(r => r.Id))
                        {
                            started[row.Id] = true;
                            await DeliverOrParkAsync(row, ct);
                        }
                    });
            }
            finally
            {
                // Rows a failed or cancelled run never started go back at once, their attempt not counted.
                await HandBackAsync(batch.Where(r => !started.ContainsKey(r.Id)).ToList());
            }
        }
    }

    private async Task DeliverOrParkAsync(Row row, CancellationToken ct)
    {
        try
        {
            // The lease was taken when the batch was claimed; a row whose turn comes after it ran out may be another run's by now. It is
            // sent only if this run still holds it, and its lease starts again for the call.
            if (!await RenewAsync(row, ct))
            {
                LogLeaseLost(row.ShopDomain, row.Reference);
                return;
            }
            await DeliverAsync(row, ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is not OutOfMemoryException)
        {
            // A row that fails inside the app (its key unreadable, a bug) is retried and parked like an outage, with a reason;
            // it must not leave itself and the rest of the claimed batch leased and silent.
            var reason = e is System.Security.Cryptography.CryptographicException
                ? "the POS API key cannot be read (the app's data-protection keys changed); save it again in the settings"
                : $"the app failed to process it ({e.GetType().Name}); see the app's logs";
            LogRowFailed(e, row.ShopDomain, row.Reference);
            await RetryOrParkAsync(row, reason, ct);
        }
    }

    private async Task<List<Row>> ClaimAsync(List<long> attempted, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Row>(new CommandDefinition($"""
            WITH shops_with_work AS (
                SELECT DISTINCT shop_domain FROM pos_outbox WHERE state = '{PosOutboxState.Pending}' AND next_attempt_at <= now()
            ), due AS (
                -- at most a batch from each shop, so a shop's backlog of thousands is not read for every batch
                SELECT r.id, r.turn FROM shops_with_work s CROSS JOIN LATERAL (
                    SELECT c.id, row_number() OVER (ORDER BY c.id) AS turn
                    FROM pos_outbox c
                    WHERE c.shop_domain = s.shop_domain AND c.state = '{PosOutboxState.Pending}' AND c.next_attempt_at <= now()
                      AND NOT (c.id = ANY(@attempted))
                      -- Refused rows never reached the POS: only rows whose outcome is still open hold later ones back.
                      AND NOT EXISTS (SELECT 1 FROM pos_outbox e
                                      WHERE e.shop_domain = c.shop_domain AND e.customer_id = c.customer_id AND e.id < c.id
                                        AND e.state IN ('{PosOutboxState.Pending}', '{PosOutboxState.Parked}'))
                    ORDER BY c.id LIMIT @batch) r
            ), picked AS (
                -- checked again as each row is locked: another instance may have claimed it since due was read
                SELECT c.id FROM pos_outbox c JOIN due USING (id)
                WHERE c.state = '{PosOutboxState.Pending}' AND c.next_attempt_at <= now()
                ORDER BY due.turn, c.id
                LIMIT @batch
                FOR UPDATE OF c SKIP LOCKED
            )
            UPDATE pos_outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => @lease)
            FROM picked WHERE o.id = picked.id
            RETURNING o.id, o.shop_domain, o.customer_id, o.reference, o.points, o.attempts
            """, new { lease = (double)options.Value.LeaseSeconds, batch = options.Value.BatchSize, attempted = attempted.ToArray() },
            cancellationToken: ct))).ToList();
    }

    private async Task<bool> RenewAsync(Row row, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE pos_outbox SET next_attempt_at = now() + make_interval(secs => @lease)
            WHERE id = @Id AND attempts = @Attempts AND state = '{PosOutboxState.Pending}'
            """, new { lease = (double)options.Value.LeaseSeconds, row.Id, row.Attempts }, cancellationToken: ct)) == 1;
    }

    private async Task HandBackAsync(List<Row> rows)
    {
        if (rows.Count == 0) return;
        try
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            foreach (var row in rows)
            {
                await conn.ExecuteAsync(new CommandDefinition($"""
                    UPDATE pos_outbox SET attempts = attempts - 1, next_attempt_at = now()
                    WHERE id = @Id AND attempts = @Attempts AND state = '{PosOutboxState.Pending}'
                    """, new { row.Id, row.Attempts }, cancellationToken: CancellationToken.None));
            }
        }
        catch (NpgsqlException e)
        {
            LogHandBackFailed(rows.Count, e.Message); // their leases run out instead
        }
    }

    private async Task DeliverAsync(Row row, CancellationToken ct)
    {
        ShopSettings settings;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            settings = await ShopSettings.LoadAsync(conn, null, row.ShopDomain, ct);
        }
        var connection = settings.PosConnection(row.ShopDomain, dataProtection);
        if (connection is null)
        {
            await FinishAsync(row, PosOutboxState.Skipped, "the shop no longer keeps its balances in a POS", null, ct);
            return;
        }

        var note = $"Loyalty {row.Reference}";
        var outcome = row.Points > 0
            ? await pos.AddAsync(connection, row.CustomerId.ToString(), row.Points, row.Reference, note, ct)
            : await pos.DeductAsync(connection, row.CustomerId.ToString(), -row.Points, row.Reference, note, ct);

        switch (outcome)
        {
            case PosOutcome.Applied applied:
                await FinishAsync(row, PosOutboxState.Delivered, null, applied.Transaction.TransactionId, ct);
                LogDelivered(row.ShopDomain, row.Reference, row.Points, applied.Replayed);
                break;
            case PosOutcome.Rejected { Status: 401 or 403 } rejected:
                // The POS refused the shop's key, not this change: every row would be refused alike. Retried like an
                // outage, they go through once the merchant fixes the key.
                await RetryOrParkAsync(row, KeyRefused(rejected), ct);
                break;
            case PosOutcome.Rejected rejected:
                await RefuseAsync(row, rejected, ct);
                LogRefused(row.ShopDomain, row.CustomerId, row.Reference, row.Points, rejected.Error, rejected.Status);
                break;
            case PosOutcome.Unknown unknown:
                await RetryOrParkAsync(row, unknown.Reason, ct);
                break;
        }
    }

    private async Task RetryOrParkAsync(Row row, string reason, CancellationToken ct)
    {
        if (row.Attempts < options.Value.MaxAttempts)
        {
            await RetryLaterAsync(row, reason, ct);
            return;
        }
        await FinishAsync(row, PosOutboxState.Parked, $"still failing after {row.Attempts} attempts: {reason}", null, ct);
        LogParked(row.ShopDomain, row.Reference, reason);
    }

    private static string KeyRefused(PosOutcome.Rejected rejected) => $"the POS refused the API key: {rejected.Error} (HTTP {rejected.Status})";

    /// <summary>The POS answered and did not apply it: the row holds nothing back any more and is drift until retried.</summary>
    private async Task RefuseAsync(Row row, PosOutcome.Rejected rejected, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE pos_outbox SET state = '{PosOutboxState.Refused}', last_error = @reason, refusal_code = @Error, refusal_status = @Status,
                refused_at = now()
            WHERE id = @Id AND attempts = @Attempts AND state = '{PosOutboxState.Pending}'
            """,
            new { reason = $"the POS refused it: {rejected.Error} (HTTP {rejected.Status})", rejected.Error, rejected.Status, row.Id, row.Attempts },
            cancellationToken: ct));
    }

    private async Task FinishAsync(Row row, string state, string? error, string? posTransactionId, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE pos_outbox SET state = @state, last_error = @error, pos_transaction_id = @posTransactionId,
                delivered_at = CASE WHEN @state = '{PosOutboxState.Delivered}' THEN now() END
            WHERE id = @Id AND attempts = @Attempts
            """, new { state, error, posTransactionId, row.Id, row.Attempts }, cancellationToken: ct));
    }

    private async Task RetryLaterAsync(Row row, string reason, CancellationToken ct)
    {
        var o = options.Value;
        var delay = Math.Min(o.RetryBaseDelaySeconds * Math.Pow(2, row.Attempts - 1),
            o.MaxRetryDelaySeconds) * (0.8 + Random.Shared.NextDouble() * 0.4);
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE pos_outbox SET last_error = @reason, next_attempt_at = now() + make_interval(secs => @delay)
            WHERE id = @Id AND attempts = @Attempts AND state = '{PosOutboxState.Pending}'
            """, new { reason, delay, row.Id, row.Attempts }, cancellationToken: ct));
        LogRetrying(row.ShopDomain, row.Reference, row.Attempts, reason, delay);
        trigger.NotifyAfter(TimeSpan.FromSeconds(delay));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "POS sync of {Reference} ({Points} points) for {Shop} delivered (replayed: {Replayed})")]
    private partial void LogDelivered(string shop, string reference, long points, bool replayed);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "POS sync of {Reference} for {Shop} attempt {Attempt} failed ({Reason}); retrying in {DelaySeconds:F1} s")]
    private partial void LogRetrying(string shop, string reference, int attempt, string reason, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "POS sync of {Reference} ({Points} points) for customer {CustomerId} of {Shop} refused: {Error} (HTTP {Status}); later rows go on")]
    private partial void LogRefused(string shop, long customerId, string reference, long points, string error, int status);

    [LoggerMessage(Level = LogLevel.Error, Message = "POS sync of {Reference} for {Shop} failed inside the app; retried like an outage")]
    private partial void LogRowFailed(Exception error, string shop, string reference);

    [LoggerMessage(Level = LogLevel.Error, Message = "POS sync of {Reference} for {Shop} parked: {Reason}")]
    private partial void LogParked(string shop, string reference, string reason);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "POS change {Reference} of {Shop} not sent: its lease ran out before its turn and it is another run's now")]
    private partial void LogLeaseLost(string shop, string reference);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Count} claimed POS changes not handed back ({Error}); their leases run out instead")]
    private partial void LogHandBackFailed(int count, string error);
}
