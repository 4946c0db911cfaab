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
    WebhookInbox inbox,
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
            // Shops take turns: every shop with ready work gets its oldest delivery into the batch before any shop gets its second,
            // and so on, so one shop's flood cannot hold back another shop's deliveries (a shop alone still fills the batch). The
            // walk goes from shop to shop along webhook_deliveries_ready_by_shop, visiting only shops with a delivery due by now
            // (one in back-off is passed over inside the index); each shop's deliveries are taken oldest first, as its lanes need.
            // Four times the batch are candidates, locked in turn order with SKIP LOCKED, so an instance claiming at the same moment
            // as another still fills its batch with what the other did not take.
            claimed = (await conn.QueryAsync<WebhookDelivery>(new CommandDefinition("""
                WITH RECURSIVE shops_with_work (shop_domain) AS (
                    (SELECT shop_domain FROM webhook_deliveries
                     WHERE status IN ('pending', 'processing') AND next_attempt_at <= now() ORDER BY shop_domain LIMIT 1)
                    UNION ALL
                    SELECT (SELECT w.shop_domain FROM webhook_deliveries w
                            WHERE w.status IN ('pending', 'processing') AND w.next_attempt_at <= now() AND w.shop_domain > s.shop_domain
                            ORDER BY w.shop_domain LIMIT 1)
                    FROM shops_with_work s WHERE s.shop_domain IS NOT NULL
                ),
                in_turns AS (
                    SELECT ready.id, ready.next_attempt_at, ready.turn
                    FROM shops_with_work s
                    CROSS JOIN LATERAL (
                        SELECT w.id, w.next_attempt_at, row_number() OVER (ORDER BY w.next_attempt_at, w.id) AS turn
                        FROM webhook_deliveries w
                        WHERE w.shop_domain = s.shop_domain AND w.status IN ('pending', 'processing') AND w.next_attempt_at <= now()
                          AND (w.status = 'pending' OR w.locked_until < now())
                        ORDER BY w.next_attempt_at, w.id
                        LIMIT @candidates) ready
                    WHERE s.shop_domain IS NOT NULL
                    ORDER BY ready.turn, ready.next_attempt_at, ready.id
                    LIMIT @candidates
                ),
                taken AS (
                    -- checked again as each row is locked: another instance may have claimed it since in_turns was read
                    SELECT w.id FROM webhook_deliveries w JOIN in_turns t USING (id)
                    WHERE (w.status = 'pending' AND w.next_attempt_at <= now()) OR (w.status = 'processing' AND w.locked_until < now())
                    ORDER BY t.turn, t.next_attempt_at, t.id
                    LIMIT @batch
                    FOR UPDATE OF w SKIP LOCKED
                )
                UPDATE webhook_deliveries d
                SET status = 'processing', attempts = d.attempts + 1, locked_until = now() + make_interval(secs => @lease)
                FROM taken WHERE d.id = taken.id
                RETURNING d.id, d.webhook_id, d.shop_domain, d.topic, d.event_id, d.triggered_at, d.api_version,
                          d.payload, d.customer_id, d.order_id, d.attempts
                """, new { lease = (double)options.Value.LeaseSeconds, batch = options.Value.BatchSize, candidates = 4 * options.Value.BatchSize },
                cancellationToken: ct))).ToList();
        }

        if (claimed.Count == 0)
        {
            LanesAtOnce(); // the intake's state kept current between batches: a quiet spell with nothing claimed ends a busy one
            return 0;
        }

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

    /// <summary>
    /// The batch's lanes spread over <see cref="WebhookOptions.Parallelism"/> workers, each lane whole on one worker and in
    /// order; a worker handles its deliveries in transactions of up to <see cref="WebhookOptions.TransactionSize"/>, one after
    /// another (<see cref="ProcessChunkAsync"/>), so a lane's later delivery never commits before its earlier one. Uninstall and
    /// compliance deliveries (what runs for uninstalled shops: erasures switch the ledger's guard off for their transaction) always
    /// get a transaction of their own. While the intake is busy, fewer workers (<see cref="LanesAtOnce"/>).
    /// </summary>
    private async Task HandleLanesAsync(List<WebhookDelivery> claimed, CancellationToken ct)
    {
        var lanes = WebhookLanes.Group(claimed, await CustomersOfOrdersAsync(claimed, ct));
        var laneOf = lanes.SelectMany((lane, i) => lane.Select(d => (d.Id, i))).ToDictionary(x => x.Id, x => x.i);
        var workers = Enumerable.Range(0, Math.Min(LanesAtOnce(), lanes.Count)).Select(_ => new List<WebhookDelivery>()).ToList();
        // Several workers even out, longest lane first; one takes the lanes as they arrived (a flood's long lane is not put first)
        var placed = workers.Count == 1 ? lanes.AsEnumerable() : lanes.OrderByDescending(l => l.Count);
        foreach (var lane in placed) workers.MinBy(w => w.Count)!.AddRange(lane);
        await Task.WhenAll(workers.Select(async work =>
        {
            await Task.Yield();
            foreach (var chunk in Chunks(work))
            {
                // Each worker on the processor's own token: one whose chunk fails beyond recording (the database is away) must not cancel
                // the others mid-batch. It stops there: its later deliveries (later ones of the same lanes among them) stay leased and
                // are claimed again, in order, when the lease ends.
                try
                {
                    await ProcessChunkAsync(chunk, laneOf, ct);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    LogLaneFailed(e, chunk[0].Topic, chunk[0].ShopDomain, chunk[0].WebhookId);
                    return;
                }
            }
        }));
    }

    /// <summary>
    /// A worker's deliveries in order, cut into transactions: at most TransactionSize, and one of its own for each delivery that
    /// needs it.
    /// </summary>
    private IEnumerable<WebhookDelivery[]> Chunks(List<WebhookDelivery> work)
    {
        var chunk = new List<WebhookDelivery>();
        foreach (var delivery in work)
        {
            var alone = _handlers.TryGetValue(delivery.Topic, out var handler) && handler.RunsForUninstalledShops;
            if (chunk.Count > 0 && (alone || chunk.Count == options.Value.TransactionSize))
            {
                yield return [.. chunk];
                chunk.Clear();
            }
            chunk.Add(delivery);
            if (alone)
            {
                yield return [.. chunk];
                chunk.Clear();
            }
        }
        if (chunk.Count > 0) yield return [.. chunk];
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

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Webhook deliveries starting with {Topic} for {Shop} ({WebhookId}) could not be finished or recorded; they are claimed again " +
        "when their lease ends")]
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
