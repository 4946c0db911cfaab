using System.Threading.Channels;
using NpgsqlTypes;

namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>A verified delivery on its way into <c>webhook_deliveries</c>.</summary>
public sealed record IncomingDelivery(string WebhookId, string ShopDomain, string Topic, string? EventId, DateTimeOffset? TriggeredAt,
    string? ApiVersion, string Payload, long? CustomerId, long? OrderId)
{
    /// <summary>The payload's size as Shopify sent it (UTF-8), what the inbox's byte limits count.</summary>
    public int Bytes { get; } = Encoding.UTF8.GetByteCount(Payload);
}

/// <summary>
/// Group commit for the intake: deliveries arriving together are stored by one multi-row INSERT, one transaction and one
/// WAL flush, instead of one each. A writer takes everything queued when it is free (under load, what arrived during the
/// previous flush), waiting <see cref="WebhookOptions.IntakeGroupWaitMs"/> for more if configured; each request is answered
/// only once its row is durable, or knows it was a redelivery (unique webhook id: the first of a group wins, the rest and
/// any already stored are duplicates). A failed INSERT is retried row by row, so one row that cannot be stored fails only
/// its own request. At most <see cref="WebhookOptions.IntakeQueueCapacity"/> deliveries and
/// <see cref="WebhookOptions.IntakeQueueMaxBytes"/> of payload wait; one more is refused at once
/// (<see cref="WebhookInboxFullException"/>) rather than held in memory while the database is slow or away. One INSERT
/// carries at most <see cref="WebhookOptions.IntakeGroupMaxRows"/> deliveries and <see cref="WebhookOptions.IntakeGroupMaxBytes"/>
/// of payload (a single larger delivery goes alone).
/// </summary>
public sealed class WebhookInbox(NpgsqlDataSource db, IOptions<WebhookOptions> options) : BackgroundService
{
    private sealed record Pending(IncomingDelivery Delivery, TaskCompletionSource<long?> Stored);

    private readonly Channel<Pending> _queue = Channel.CreateBounded<Pending>(
        new BoundedChannelOptions(options.Value.IntakeQueueCapacity) { SingleReader = false, FullMode = BoundedChannelFullMode.Wait });

    private volatile bool _stopping;
    private long _queuedBytes;
    private int _storing;
    private long _crowdedAtMs = long.MinValue / 2; // Environment.TickCount64 when Storing last reached BusyIntakeDeliveries

    /// <summary>
    /// Deliveries accepted and not yet stored: waiting for a writer or in its INSERT. Under a burst it rises to about the senders'
    /// connections; the processor reads it to leave the intake the machine (<see cref="WebhookOptions.BusyIntakeDeliveries"/>).
    /// </summary>
    public int Storing => Volatile.Read(ref _storing);

    /// <summary>
    /// Milliseconds since <see cref="Storing"/> last reached <see cref="WebhookOptions.BusyIntakeDeliveries"/> (at a delivery's arrival).
    /// </summary>
    public long MsSinceCrowded => Environment.TickCount64 - Volatile.Read(ref _crowdedAtMs);

    /// <summary>Stores <paramref name="delivery"/> durably; its new row id, or null when the webhook id was already stored.</summary>
    /// <exception cref="WebhookInboxFullException">As many deliveries as <see cref="WebhookOptions.IntakeQueueCapacity"/> are waiting.</exception>
    public async Task<long?> StoreAsync(IncomingDelivery delivery, CancellationToken ct)
    {
        var pending = new Pending(delivery, new TaskCompletionSource<long?>(TaskCreationOptions.RunContinuationsAsynchronously));
        // The bytes are reserved first; a delivery that would pass the limit is refused unless nothing else waits (so one
        // delivery of any accepted size always gets through).
        var queued = Interlocked.Add(ref _queuedBytes, delivery.Bytes);
        var overBytes = queued > options.Value.IntakeQueueMaxBytes && queued > delivery.Bytes;
        var storing = Interlocked.Increment(ref _storing);
        if (options.Value.BusyIntakeDeliveries > 0 && storing >= options.Value.BusyIntakeDeliveries)
        {
            Volatile.Write(ref _crowdedAtMs, Environment.TickCount64);
        }
        if (overBytes || !_queue.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _storing);
            Interlocked.Add(ref _queuedBytes, -delivery.Bytes);
            throw _stopping ? new InvalidOperationException("The webhook inbox is shut down.")
                : overBytes ? WebhookInboxFullException.Bytes(options.Value.IntakeQueueMaxBytes)
                : WebhookInboxFullException.Count(options.Value.IntakeQueueCapacity);
        }
        // Counted until its row is answered, not while its request waits: a request Shopify gave up on leaves its row to be written.
        _ = pending.Stored.Task.ContinueWith(_ => Interlocked.Decrement(ref _storing), CancellationToken.None,
            TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        // The row may still be written after the caller gave up: Shopify redelivers, and the id makes that a duplicate.
        return await pending.Stored.Task.WaitAsync(ct);
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.WhenAll(Enumerable.Range(0, options.Value.IntakeWriters).Select(_ => WriteAsync(stoppingToken)));

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        _stopping = true;
        _queue.Writer.TryComplete(); // the server has stopped taking requests; what is queued is still written
        await base.StopAsync(cancellationToken);
    }

    private async Task WriteAsync(CancellationToken ct)
    {
        var o = options.Value;
        var group = new List<Pending>(o.IntakeGroupMaxRows);
        Pending? carried = null; // taken from the queue but past the last group's byte limit: it opens the next one
        while (carried is not null || await _queue.Reader.WaitToReadAsync(CancellationToken.None))
        {
            if (carried is null && o.IntakeGroupWaitMs > 0) await Task.Delay(o.IntakeGroupWaitMs, CancellationToken.None);
            var bytes = 0L;
            if (carried is not null)
            {
                group.Add(carried);
                bytes = carried.Delivery.Bytes;
                carried = null;
            }
            while (group.Count < o.IntakeGroupMaxRows && _queue.Reader.TryRead(out var next))
            {
                Interlocked.Add(ref _queuedBytes, -next.Delivery.Bytes);
                if (group.Count > 0 && bytes + next.Delivery.Bytes > o.IntakeGroupMaxBytes)
                {
                    carried = next;
                    break;
                }
                group.Add(next);
                bytes += next.Delivery.Bytes;
            }
            if (group.Count == 0) continue;
            await StoreGroupAsync(group, ct.IsCancellationRequested ? CancellationToken.None : ct);
            group.Clear();
        }
    }

    /// <summary>
    /// Stores a group; if its INSERT fails (a shop removed meanwhile, a deadlock with the other writer), each delivery is
    /// stored on its own, so only one that really cannot be stored fails, and only its request answers an error.
    /// </summary>
    private async Task StoreGroupAsync(List<Pending> group, CancellationToken ct)
    {
        try
        {
            var stored = await InsertAsync(group, ct);
            foreach (var p in group) p.Stored.TrySetResult(stored.TryGetValue(p, out var id) ? id : null);
        }
        catch (Exception) when (group.Count > 1)
        {
            foreach (var p in group) await StoreGroupAsync([p], ct);
        }
        catch (Exception e)
        {
            group[0].Stored.TrySetException(e);
        }
    }

    /// <summary>One INSERT for the group, in webhook id order (two writers then take their row locks in the same order); the row id of each request
    /// whose delivery was new, the first of a repeated id.</summary>
    private async Task<Dictionary<Pending, long>> InsertAsync(List<Pending> group, CancellationToken ct)
    {
        var first = group.GroupBy(p => p.Delivery.WebhookId, StringComparer.Ordinal).Select(g => g.First())
            .OrderBy(p => p.Delivery.WebhookId, StringComparer.Ordinal).ToList();
        await using var cmd = db.CreateCommand("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, event_id, triggered_at, api_version, payload, customer_id, order_id)
            SELECT * FROM unnest(@webhook_ids, @shops, @topics, @event_ids, @triggered_ats, @api_versions, @payloads, @customer_ids, @order_ids)
            ON CONFLICT (webhook_id) DO NOTHING
            RETURNING id, webhook_id
            """);
        var d = first.Select(p => p.Delivery).ToList();
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("webhook_ids", [.. d.Select(x => x.WebhookId)]));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("shops", [.. d.Select(x => x.ShopDomain)]));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("topics", [.. d.Select(x => x.Topic)]));
        cmd.Parameters.Add(new NpgsqlParameter<string?[]>("event_ids", [.. d.Select(x => x.EventId)]));
        cmd.Parameters.Add(new NpgsqlParameter<DateTime?[]>("triggered_ats",
            [.. d.Select(x => x.TriggeredAt?.UtcDateTime)]) { NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.TimestampTz });
        cmd.Parameters.Add(new NpgsqlParameter<string?[]>("api_versions", [.. d.Select(x => x.ApiVersion)]));
        cmd.Parameters.Add(new NpgsqlParameter<string[]>("payloads", [.. d.Select(x => x.Payload)]));
        cmd.Parameters.Add(new NpgsqlParameter<long?[]>("customer_ids", [.. d.Select(x => x.CustomerId)]));
        cmd.Parameters.Add(new NpgsqlParameter<long?[]>("order_ids", [.. d.Select(x => x.OrderId)]));

        var byId = first.ToDictionary(p => p.Delivery.WebhookId, StringComparer.Ordinal);
        var stored = new Dictionary<Pending, long>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) stored[byId[reader.GetString(1)]] = reader.GetInt64(0);
        return stored;
    }
}

/// <summary>The inbox holds as many waiting deliveries as it may: the request is answered 503 and Shopify retries it.</summary>
public sealed class WebhookInboxFullException(string message) : Exception(message)
{
    public static WebhookInboxFullException Count(int capacity) =>
        new($"{capacity} webhook deliveries are already waiting to be stored (Webhooks:IntakeQueueCapacity).");

    public static WebhookInboxFullException Bytes(int maxBytes) =>
        new($"Webhook payloads waiting to be stored would pass {maxBytes} bytes (Webhooks:IntakeQueueMaxBytes).");
}
