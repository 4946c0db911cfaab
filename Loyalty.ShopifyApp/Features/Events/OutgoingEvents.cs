using System.Collections.Concurrent;
using System.Diagnostics;
using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Db;

namespace Loyalty.ShopifyApp.Features.Events;

/// <summary>
/// Events for the merchant's other systems. <see cref="EmitAsync"/> writes an event in the caller's
/// transaction (only when the shop registered an endpoint), so an event exists exactly when what it reports
/// happened. <see cref="DeliverDueAsync"/> POSTs due events, signed, with exponential back-off, at least once;
/// after <see cref="EventOptions.MaxAttempts"/> an event is <c>failed</c> and listed for the merchant.
///
/// Request: JSON <c>{ id, type, shop, createdAt, data }</c> with headers <c>X-Loyalty-Event-Id</c>,
/// <c>X-Loyalty-Event-Type</c> and <c>X-Loyalty-Signature: t={unix seconds},v1={hex HMAC-SHA256 of "{t}.{body}"
/// with the endpoint's secret}</c>. A 2xx answer is delivery; anything else is retried.
/// </summary>
public sealed partial class OutgoingEvents(
    NpgsqlDataSource db, IHttpClientFactory http, IDataProtectionProvider dataProtection, IOptions<EventOptions> options,
    ILogger<OutgoingEvents> logger)
{
    public const string RecurringId = "event-delivery";
    public const string HttpClientName = "loyalty-events";

    public static IDataProtector SecretProtector(IDataProtectionProvider dp) => dp.CreateProtector("Loyalty.EventSecret.v1");

    public static async Task<bool> EmitAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, string type, object data, CancellationToken ct)
    {
        await using var batch = new NpgsqlBatch(conn, tx) { BatchCommands = { EmitCommand(shop, type, data) } };
        return await batch.ExecuteNonQueryAsync(ct) == 1;
    }

    /// <summary><see cref="EmitAsync"/> as a statement for a batch that sends it with others, in one round trip.</summary>
    public static NpgsqlBatchCommand EmitCommand(string shop, string type, object data)
    {
        var id = "evt_" + Conversion.ConversionIds.NewId()[5..];
        var payload = JsonSerializer.Serialize(new { id, type, shop, createdAt = DateTimeOffset.UtcNow, data }, JsonSerializerOptions.Web);
        return new NpgsqlBatchCommand("""
            INSERT INTO outgoing_events (id, shop_domain, type, payload)
            SELECT @id, @shop, @type, @payload::jsonb WHERE EXISTS (SELECT 1 FROM event_endpoints WHERE shop_domain = @shop)
            """)
        {
            Parameters = { new("id", id), new("shop", shop), new("type", type), new("payload", payload) },
        };
    }

    private sealed record Due(string Id, string ShopDomain, string Type, string Payload, int Attempts, string Url, string SecretProtected);

    /// <summary>The session advisory lock that makes runs take turns, on any instance.</summary>
    private const string RunLockKey = "outgoing-events:run";

    /// <summary>
    /// Delivers due events, fairly and within bounds, so one shop's slow endpoint never holds back another's events nor
    /// ties up the job workers: attempts run side by side (<see cref="EventOptions.Parallelism"/>), events are claimed in
    /// turns across shops, a shop gets <see cref="EventOptions.MaxPerShopPerRun"/> attempts per run at most, and a run
    /// ends within <see cref="EventOptions.MaxRunSeconds"/>. One run at a time: a run started while another is under way
    /// (the schedule, a merchant's retry) returns at once and leaves the events to it, so runs cannot pile up.
    /// </summary>
    [AutomaticRetry(Attempts = 0)]
    public async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        if (await RunAlone.TryAsync(db, RunLockKey, () => RunAsync(ct), ct) is { } delivered) return delivered;
        LogRunUnderWay();
        return 0;
    }

    private async Task<int> RunAsync(CancellationToken ct)
    {
        var o = options.Value;
        var run = Stopwatch.StartNew();
        bool AttemptEndsInTime() => run.Elapsed.TotalSeconds + o.TimeoutSeconds <= o.MaxRunSeconds;
        var delivered = 0;
        var attempted = new List<string>(); // each run tries an event at most once; back-off decides the next try
        var perShop = new Dictionary<string, int>();
        while (!ct.IsCancellationRequested && AttemptEndsInTime())
        {
            var batch = await ClaimAsync(attempted, perShop, ct);
            if (batch.Count == 0) break;
            foreach (var e in batch)
            {
                attempted.Add(e.Id);
                perShop[e.ShopDomain] = perShop.GetValueOrDefault(e.ShopDomain) + 1;
            }
            var unstarted = new ConcurrentBag<Due>();
            await Parallel.ForEachAsync(batch, new ParallelOptions { MaxDegreeOfParallelism = o.Parallelism, CancellationToken = ct },
                async (e, token) =>
            {
                if (!AttemptEndsInTime())
                {
                    unstarted.Add(e);
                    return;
                }
                if (await DeliverAsync(e, token)) Interlocked.Increment(ref delivered);
            });
            if (!unstarted.IsEmpty)
            {
                await HandBackAsync(unstarted, ct);
                break;
            }
        }
        return delivered;
    }

    /// <summary>
    /// Claims due events, leased for <see cref="EventOptions.LeaseSeconds"/>: each shop's oldest first, shops in turns (a
    /// shop's n-th event of this run comes after every other shop's (n-1)-th), none past a shop's share of the run.
    /// </summary>
    private async Task<List<Due>> ClaimAsync(List<string> attempted, Dictionary<string, int> perShop, CancellationToken ct)
    {
        var o = options.Value;
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Due>(new CommandDefinition("""
            WITH due AS (
                SELECT e.id, e.created_at,
                       row_number() OVER (PARTITION BY e.shop_domain ORDER BY e.created_at, e.id) + coalesce(u.used, 0) AS turn
                FROM outgoing_events e
                LEFT JOIN unnest(@shops::text[], @used::int[]) AS u (shop, used) ON u.shop = e.shop_domain
                WHERE e.state = 'pending' AND e.next_attempt_at <= now() AND NOT (e.id = ANY(@attempted))
                  AND EXISTS (SELECT 1 FROM event_endpoints p WHERE p.shop_domain = e.shop_domain)
            ), picked AS (
                SELECT e.id, d.turn, d.created_at FROM outgoing_events e JOIN due d ON d.id = e.id
                WHERE d.turn <= @perShop AND e.state = 'pending' AND e.next_attempt_at <= now()
                ORDER BY d.turn, d.created_at
                LIMIT @batch
                FOR UPDATE OF e SKIP LOCKED
            ), claimed AS (
                UPDATE outgoing_events e SET attempts = e.attempts + 1, next_attempt_at = now() + make_interval(secs => @lease)
                FROM event_endpoints p, picked
                WHERE picked.id = e.id AND p.shop_domain = e.shop_domain
                RETURNING e.id, e.shop_domain, e.type, e.payload::text AS payload, e.attempts, p.url, p.secret_protected, picked.turn,
                    picked.created_at
            )
            SELECT id, shop_domain, type, payload, attempts, url, secret_protected FROM claimed ORDER BY turn, created_at
            """, new
        {
            attempted = attempted.ToArray(), shops = perShop.Keys.ToArray(), used = perShop.Values.ToArray(), perShop = o.MaxPerShopPerRun,
            batch = o.BatchSize, lease = o.LeaseSeconds,
        }, cancellationToken: ct))).ToList();
    }

    /// <summary>Claimed events the run had no time left to attempt: due again, the claim's attempt not counted.</summary>
    private async Task HandBackAsync(IEnumerable<Due> events, CancellationToken ct)
    {
        var ids = events.Select(e => e.Id).ToArray();
        await UpdateAsync("UPDATE outgoing_events SET attempts = attempts - 1, next_attempt_at = now() WHERE id = ANY(@ids) AND state = 'pending'",
            new { ids }, ct);
        LogHandedBack(ids.Length);
    }

    private async Task UpdateAsync(string sql, object args, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Event delivery: another run is under way; this one leaves the events to it")]
    private partial void LogRunUnderWay();

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Event delivery: {Count} claimed events handed back for the next run (Events:MaxRunSeconds reached)")]
    private partial void LogHandedBack(int count);
}
