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
            var savepoint = 0; // the step under way: s1, s2, … (a name of its own, so a rollback never reaches an earlier step)
            for (var i = 0; i < chunk.Length;)
            {
                var shop = MaySet(chunk[i]) && !heldLanes.Contains(laneOf[chunk[i].Id])
                    ? await reads.ShopAsync(conn, tx, chunk[i].ShopDomain, ct)
                    : null;
                var set = shop is null ? [] : SetAt(chunk, i, shop, laneOf, heldLanes);
                if (set.Count == 0)
                {
                    await OneInAsync(chunk[i++]);
                    continue;
                }
                i += set.Count;
                List<WebhookDelivery> left;
                try
                {
                    (var setHandled, left) = await HandleSetInAsync(conn, tx, set, shop!, reads, NextSavepoint(), ct);
                    handled.AddRange(setHandled);
                }
                catch (Exception e) when (e is not OperationCanceledException && conn.State == ConnectionState.Open)
                {
                    LogSetFailed(e, set.Count, set[0].Topic, set[0].ShopDomain);
                    left = await UndoAsync(e, set) ? [] : set;
                }
                foreach (var delivery in left) await OneInAsync(delivery);
            }
            await tx.CommitAsync(ct);

            async Task OneInAsync(WebhookDelivery delivery)
            {
                if (heldLanes.Contains(laneOf[delivery.Id]))
                {
                    afterCommit.Add(delivery);
                    return;
                }
                using var scope = BeginDeliveryScope(delivery);
                try
                {
                    handled.Add(await HandleInAsync(conn, tx, delivery, reads, ct, beforeFence: NextSavepoint()));
                }
                catch (Exception e) when (e is not OperationCanceledException && conn.State == ConnectionState.Open)
                {
                    if (!await UndoAsync(e, [delivery])) failed.Add((delivery, e));
                }
            }

            // The previous step's savepoint released (its work joins the transaction) and the next one's taken, sent in the round trip of
            // the step's first statement; the last is released by the commit.
            string NextSavepoint() => (savepoint > 0 ? $"RELEASE SAVEPOINT s{savepoint}; " : "") + $"SAVEPOINT s{++savepoint};";

            // Undoes what failed (the savepoint stays, empty, for the next RELEASE) and forgets the settings read under it, whose lock
            // may have gone with it. True when another transaction's locks were the cause (a deadlock's victim): those deliveries and the
            // rest of their lanes are handled on their own after the commit. Also a prepared statement whose table another instance's
            // migration changed (0A000, "cached plan must not change result type"): Npgsql prepares it again on its next use, so run
            // alone it goes through without spending an attempt.
            async Task<bool> UndoAsync(Exception e, IReadOnlyList<WebhookDelivery> deliveries)
            {
                await tx.RollbackAsync($"s{savepoint}", ct); // a step whose savepoint was never taken: the chunk fails, each alone
                reads.ForgetSettings();
                if (e is not PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected or PostgresErrorCodes.SerializationFailure
                        or PostgresErrorCodes.LockNotAvailable or PostgresErrorCodes.FeatureNotSupported })
                {
                    return false;
                }
                foreach (var delivery in deliveries)
                {
                    heldLanes.Add(laneOf[delivery.Id]);
                    afterCommit.Add(delivery);
                }
                return true;
            }
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

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {Topic} ({WebhookId}) was committed, but what was to follow the commit failed")]
    private partial void LogAfterCommitFailed(Exception e, string topic, string webhookId);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "A transaction of {Count} webhook deliveries failed as a whole; handling each on its own")]
    private partial void LogChunkFailed(Exception e, int count);
}
