using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// Works through the webhook inbox on every instance at once, a batch at a time, its lanes
/// (<see cref="WebhookLanes"/>) in parallel. A delivery is claimed with
/// <c>FOR UPDATE SKIP LOCKED</c> and a lease; its handler runs in the same transaction that marks it
/// processed, fenced by the attempt number so a worker whose lease ran out cannot overwrite the one that
/// took over. Failures are retried with exponential back-off and parked as <c>failed</c> with the last
/// error after <see cref="WebhookOptions.MaxAttempts"/>; a process that dies mid-delivery loses nothing,
/// because the lease expires and the delivery is claimed again.
/// </summary>
public sealed partial class WebhookProcessor(
    NpgsqlDataSource db,
    IEnumerable<IWebhookHandler> handlers,
    WebhookSignal signal,
    IOptions<WebhookOptions> options,
    ILogger<WebhookProcessor> logger) : BackgroundService
{
    private readonly Dictionary<string, IWebhookHandler> _handlers = handlers.ToDictionary(h => h.Topic);
    private DateTimeOffset _nextPurge = DateTimeOffset.MinValue;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.Value.ProcessingEnabled) return;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                var handled = await ProcessDueAsync(stoppingToken);
                if (DateTimeOffset.UtcNow >= _nextPurge)
                {
                    await PurgeAsync(stoppingToken);
                    _nextPurge = DateTimeOffset.UtcNow.AddMinutes(options.Value.PurgeIntervalMinutes);
                }
                if (handled == 0) await signal.WaitAsync(TimeSpan.FromMilliseconds(options.Value.PollIntervalMs), stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLoopFailed(e);
                await Task.Delay(TimeSpan.FromMilliseconds(options.Value.PollIntervalMs), stoppingToken);
            }
        }
    }

    /// <summary>Claims and handles one batch of due deliveries; returns how many were claimed.</summary>
    public async Task<int> ProcessDueAsync(CancellationToken ct)
    {
        List<WebhookDelivery> claimed;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            claimed = (await conn.QueryAsync<WebhookDelivery>(new CommandDefinition("""
                UPDATE webhook_deliveries d
                SET status = 'processing', attempts = d.attempts + 1, locked_until = now() + make_interval(secs => @lease)
                WHERE d.id IN (
                    SELECT id FROM webhook_deliveries
                    WHERE (status = 'pending' AND next_attempt_at <= now())
                       OR (status = 'processing' AND locked_until < now())
                    ORDER BY next_attempt_at, id
                    LIMIT @batch
                    FOR UPDATE SKIP LOCKED)
                RETURNING d.id, d.webhook_id, d.shop_domain, d.topic, d.event_id, d.triggered_at, d.api_version,
                          d.payload, d.customer_id, d.order_id, d.attempts
                """, new { lease = (double)options.Value.LeaseSeconds, batch = options.Value.BatchSize }, cancellationToken: ct))).ToList();
        }

        if (claimed.Count == 0) return 0;

        // The batch keeps its lease while it runs: a delivery further down a lane must not be claimed by another instance (and
        // run before the one ahead of it in its lane commits) only because the lane is slow.
        using var renewing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var renewal = RenewLeasesAsync(claimed, renewing.Token);
        try
        {
            await HandleLanesAsync(claimed, ct);
        }
        finally
        {
            await renewing.CancelAsync();
            await renewal;
        }
        return claimed.Count;
    }

    private async Task HandleLanesAsync(List<WebhookDelivery> claimed, CancellationToken ct)
    {
        // Each delivery in its own transaction, as before; lanes at once, so their commits share the database's WAL flushes.
        await Parallel.ForEachAsync(WebhookLanes.Group(claimed, await CustomersOfOrdersAsync(claimed, ct)),
            new ParallelOptions { MaxDegreeOfParallelism = options.Value.Parallelism, CancellationToken = ct },
            async (lane, _) =>
            {
                // Each lane on the worker's own token: a lane that fails (its failure could not be recorded) must not cancel the
                // others mid-batch; its delivery stays leased and is claimed again when the lease ends.
                foreach (var delivery in lane)
                {
                    try
                    {
                        await ProcessOneAsync(delivery, ct);
                    }
                    catch (Exception e) when (!ct.IsCancellationRequested)
                    {
                        LogLaneFailed(e, delivery.Topic, delivery.ShopDomain, delivery.WebhookId);
                    }
                }
            });
    }

    /// <summary>The recorded customer of each order a delivery names without its customer (refunds), for the lanes.</summary>
    private async Task<Dictionary<(string Shop, long Order), long?>> CustomersOfOrdersAsync(List<WebhookDelivery> claimed, CancellationToken ct)
    {
        var orderOnly = claimed.Where(d => d.CustomerId is null && d.OrderId is not null).ToList();
        if (orderOnly.Count == 0) return [];
        await using var conn = await db.OpenConnectionAsync(ct);
        var rows = await conn.QueryAsync<(string Shop, long Order, long? Customer)>(new CommandDefinition("""
            SELECT e.shop_domain, e.order_id, e.customer_id
            FROM order_earnings e JOIN unnest(@shops, @orders) AS o(shop_domain, order_id) USING (shop_domain, order_id)
            """, new { shops = orderOnly.Select(d => d.ShopDomain).ToArray(), orders = orderOnly.Select(d => d.OrderId!.Value).ToArray() },
            cancellationToken: ct));
        return rows.ToDictionary(r => (r.Shop, r.Order), r => r.Customer);
    }

    private async Task ProcessOneAsync(WebhookDelivery delivery, CancellationToken ct)
    {
        var fields = new Dictionary<string, object> { [LogScopes.ShopDomain] = delivery.ShopDomain, [LogScopes.WebhookId] = delivery.WebhookId };
        if (delivery.OrderId is { } orderId) fields[LogScopes.OrderId] = orderId;
        if (delivery.CustomerId is { } customerId) fields[LogScopes.CustomerId] = customerId;
        using var scope = logger.BeginScope(fields);
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await using var tx = await conn.BeginTransactionAsync(ct);

            // Fence: still ours? (a worker whose lease expired must not finish what another took over)
            var owned = await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE webhook_deliveries SET status = 'processed', processed_at = now(), locked_until = NULL, last_error = NULL
                WHERE id = @Id AND status = 'processing' AND attempts = @Attempts
                """, delivery, tx, cancellationToken: ct));
            if (owned != 1)
            {
                LogLostLease(delivery.Id, delivery.Topic);
                return;
            }

            var shop = await conn.QuerySingleOrDefaultAsync<WebhookShop>(new CommandDefinition(
                "SELECT state, installed_at FROM shops WHERE shop_domain = @ShopDomain", delivery, tx, cancellationToken: ct));
            var skip = SkipReason(delivery, shop, out var handler);
            if (skip is not null)
            {
                await conn.ExecuteAsync(new CommandDefinition(
                    "UPDATE webhook_deliveries SET status = 'skipped', last_error = @skip WHERE id = @id",
                    new { skip, id = delivery.Id }, tx, cancellationToken: ct));
                await tx.CommitAsync(ct);
                LogSkipped(delivery.Topic, delivery.ShopDomain, delivery.WebhookId, skip);
                return;
            }

            var context = new WebhookContext(delivery, shop!, conn, tx);
            await handler!.HandleAsync(context, ct);
            await tx.CommitAsync(ct);
            foreach (var action in context.AfterCommit) action();
            LogProcessed(delivery.Topic, delivery.ShopDomain, delivery.WebhookId, delivery.Attempts);
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

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Webhook {Topic} for {Shop} ({WebhookId}) could not be finished or recorded; it is claimed again when its lease ends")]
    private partial void LogLaneFailed(Exception error, string topic, string shop, string webhookId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Processed webhook {Topic} for {Shop} ({WebhookId}) on attempt {Attempt}")]
    private partial void LogProcessed(string topic, string shop, string webhookId, int attempt);

    [LoggerMessage(Level = LogLevel.Information, Message = "Skipped webhook {Topic} for {Shop} ({WebhookId}): {Reason}")]
    private partial void LogSkipped(string topic, string shop, string webhookId, string reason);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Webhook {Topic} for {Shop} ({WebhookId}) failed on attempt {Attempt}; retrying in {DelaySeconds:F0} s")]
    private partial void LogWillRetry(Exception e, string topic, string shop, string webhookId, int attempt, double delaySeconds);

    [LoggerMessage(Level = LogLevel.Error, Message = "Webhook {Topic} for {Shop} ({WebhookId}) parked as failed after {Attempt} attempts: {Reason}")]
    private partial void LogParked(Exception e, string topic, string shop, string webhookId, int attempt, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Delivery {DeliveryId} ({Topic}) was taken over by another worker; leaving it")]
    private partial void LogLostLease(long deliveryId, string topic);

    [LoggerMessage(Level = LogLevel.Error, Message = "The webhook processing loop failed; trying again")]
    private partial void LogLoopFailed(Exception e);
}
