using System.Data;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>One delivery's work, on its own or in a chunk sharing one transaction.</summary>
public sealed partial class WebhookProcessor
{
    /// <summary>What handling a delivery inside a transaction came to; <see cref="Finish"/> acts on it once that committed.</summary>
    private sealed record Handled(WebhookDelivery Delivery, bool Owned, string? Skip, WebhookContext? Context);

    /// <summary>
    /// The chunk's deliveries in one transaction, in order, each inside a savepoint: a delivery that fails has its own effects
    /// rolled back and its failure recorded, and the others commit together, with one WAL flush instead of one each. One that
    /// met another transaction's locks (a deadlock's victim) is handled again on its own once this chunk committed, and so are
    /// the later deliveries of its lane in the chunk, after it and in order. If the transaction as a whole fails, each delivery
    /// is handled on its own, its fence deciding whether the commit went through after all.
    /// </summary>
    private async Task ProcessChunkAsync(WebhookDelivery[] chunk, Dictionary<long, int> laneOf, CancellationToken ct)
    {
        if (chunk.Length == 1)
        {
            await ProcessOneAsync(chunk[0], ct);
            return;
        }
        var handled = new List<Handled>(chunk.Length);
        var reads = new WebhookShopReads();
        var failed = new List<(WebhookDelivery Delivery, Exception Error)>();
        var heldLanes = new HashSet<int>();
        var afterCommit = new List<WebhookDelivery>(); // a deadlock's victim and what follows it in its lane, in order
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            var savepointOpen = false;
            foreach (var delivery in chunk)
            {
                if (heldLanes.Contains(laneOf[delivery.Id]))
                {
                    afterCommit.Add(delivery);
                    continue;
                }
                using var scope = BeginDeliveryScope(delivery);
                try
                {
                    // The previous delivery's savepoint released (its work joins the transaction) and this one's taken in the round trip
                    // of the fence; the last is released by the commit.
                    handled.Add(await HandleInAsync(conn, tx, delivery, reads, ct,
                        beforeFence: (savepointOpen ? "RELEASE SAVEPOINT delivery; " : "") + "SAVEPOINT delivery;"));
                    savepointOpen = true;
                }
                catch (Exception e) when (e is not OperationCanceledException && conn.State == ConnectionState.Open)
                {
                    await tx.RollbackAsync("delivery", ct); // the savepoint stays, empty, for the next delivery's RELEASE
                    savepointOpen = true;
                    // Also a prepared statement whose table another instance's migration changed (0A000, "cached plan must not change
                    // result type"): Npgsql prepares it again on its next use, so run alone it goes through without spending an attempt.
                    if (e is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure
                            or PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.FeatureNotSupported })
                    {
                        heldLanes.Add(laneOf[delivery.Id]);
                        afterCommit.Add(delivery);
                    }
                    else
                    {
                        failed.Add((delivery, e));
                    }
                }
            }
            await tx.CommitAsync(ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            LogChunkFailed(e, chunk.Length);
            foreach (var delivery in chunk) await ProcessOneAsync(delivery, ct);
            return;
        }
        foreach (var h in handled) FinishSafely(h);
        foreach (var (delivery, error) in failed)
        {
            using var scope = BeginDeliveryScope(delivery);
            await RecordFailureAsync(delivery, error, ct);
        }
        foreach (var delivery in afterCommit) await ProcessOneAsync(delivery, ct);
    }

    /// <summary>What follows a commit must not stop the chunk's other deliveries from being finished or recorded.</summary>
    private void FinishSafely(Handled h)
    {
        try
        {
            Finish(h);
        }
        catch (Exception e)
        {
            LogAfterCommitFailed(e, h.Delivery.Topic, h.Delivery.WebhookId);
        }
    }

    /// <summary>One delivery in a transaction of its own.</summary>
    private async Task ProcessOneAsync(WebhookDelivery delivery, CancellationToken ct)
    {
        using var scope = BeginDeliveryScope(delivery);
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);
            var handled = await HandleInAsync(conn, tx, delivery, new WebhookShopReads(), ct);
            await tx.CommitAsync(ct);
            FinishSafely(handled);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw; // shutting down: the lease expires and another worker retries it
        }
        catch (Exception e)
        {
            await RecordFailureAsync(delivery, e, ct);
        }
    }

    /// <summary>Marks the delivery handled, fenced by its attempt, and runs its handler, all in <paramref name="tx"/>.</summary>
    /// <param name="beforeFence">Statements sent in the fence's round trip, ahead of it (a chunk's savepoints).</param>
    private async Task<Handled> HandleInAsync(NpgsqlConnection conn, NpgsqlTransaction tx, WebhookDelivery delivery, WebhookShopReads reads,
        CancellationToken ct, string beforeFence = "")
    {
        // Fence: still ours? (a worker whose lease expired must not finish what another took over)
        var owned = await conn.ExecuteAsync(new CommandDefinition(beforeFence + """
            UPDATE webhook_deliveries SET status = 'processed', processed_at = now(), locked_until = NULL, last_error = NULL
            WHERE id = @Id AND status = 'processing' AND attempts = @Attempts
            """, delivery, tx, cancellationToken: ct));
        if (owned != 1) return new Handled(delivery, false, null, null);

        var shop = await reads.ShopAsync(conn, tx, delivery.ShopDomain, ct);
        var skip = SkipReason(delivery, shop, out var handler);
        if (skip is not null)
        {
            await conn.ExecuteAsync(new CommandDefinition("UPDATE webhook_deliveries SET status = 'skipped', last_error = @skip WHERE id = @id",
                new { skip, id = delivery.Id }, tx, cancellationToken: ct));
            return new Handled(delivery, true, skip, null);
        }

        var context = new WebhookContext(delivery, shop!, conn, tx, reads);
        await handler!.HandleAsync(context, ct);
        return new Handled(delivery, true, null, context);
    }

    /// <summary>After the commit: what the handler asked to start, and the log line.</summary>
    private void Finish(Handled h)
    {
        var d = h.Delivery;
        using var scope = BeginDeliveryScope(d);
        if (!h.Owned)
        {
            LogLostLease(d.Id, d.Topic);
        }
        else if (h.Skip is not null)
        {
            LogSkipped(d.Topic, d.ShopDomain, d.WebhookId, h.Skip);
        }
        else
        {
            foreach (var action in h.Context!.AfterCommit) action();
            LogProcessed(d.Topic, d.ShopDomain, d.WebhookId, d.Attempts);
        }
    }

    private IDisposable? BeginDeliveryScope(WebhookDelivery delivery)
    {
        var fields = new Dictionary<string, object> { [LogScopes.ShopDomain] = delivery.ShopDomain, [LogScopes.WebhookId] = delivery.WebhookId };
        if (delivery.OrderId is { } orderId) fields[LogScopes.OrderId] = orderId;
        if (delivery.CustomerId is { } customerId) fields[LogScopes.CustomerId] = customerId;
        return logger.BeginScope(fields);
    }

    private string? SkipReason(WebhookDelivery delivery, WebhookShop? shop, out IWebhookHandler? handler)
    {
        handler = null;
        if (!_handlers.TryGetValue(delivery.Topic, out var h)) return "no handler for this topic";
        handler = h;
        if (shop is null) return "shop no longer known";
        if (shop.State != "installed" && !h.RunsForUninstalledShops) return "shop is not installed";
        if (delivery.Payload is null) return "payload was cleared before processing";
        return null;
    }

    private async Task RecordFailureAsync(WebhookDelivery delivery, Exception error, CancellationToken ct)
    {
        var o = options.Value;
        var permanent = error is PermanentWebhookFailureException or JsonException or KeyNotFoundException or FormatException;
        var park = permanent || delivery.Attempts >= o.MaxAttempts;
        var delay = Math.Min(o.RetryBaseDelaySeconds * Math.Pow(2, delivery.Attempts - 1), o.MaxRetryDelaySeconds)
                    * (0.8 + Random.Shared.NextDouble() * 0.4);
        // A NUL (from a payload quoted in a message) is the one character a text column refuses: a failure that cannot be recorded
        // would leave the delivery "processing" until its lease ends, then again, for ever.
        var reason = $"{error.GetType().Name}: {error.Message}".Replace('\0', '\uFFFD');
        if (reason.Length > 2000) reason = reason[..(char.IsHighSurrogate(reason[1999]) ? 1999 : 2000)]; // never half a character

        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE webhook_deliveries
            SET status = CASE WHEN @park THEN 'failed' ELSE 'pending' END,
                next_attempt_at = now() + make_interval(secs => @delay),
                locked_until = NULL,
                last_error = @reason
            WHERE id = @id AND status = 'processing' AND attempts = @attempts
            """, new { park, delay, reason, id = delivery.Id, attempts = delivery.Attempts }, cancellationToken: ct));

        if (park) LogParked(error, delivery.Topic, delivery.ShopDomain, delivery.WebhookId, delivery.Attempts, reason);
        else LogWillRetry(error, delivery.Topic, delivery.ShopDomain, delivery.WebhookId, delivery.Attempts, delay);
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {Topic} ({WebhookId}) was committed, but what was to follow the commit failed")]
    private partial void LogAfterCommitFailed(Exception e, string topic, string webhookId);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "A transaction of {Count} webhook deliveries failed as a whole; handling each on its own")]
    private partial void LogChunkFailed(Exception e, int count);
}
