using System.Diagnostics;
using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Db;

namespace Loyalty.ShopifyApp.Features.Flow;

/// <summary>
/// Sends queued Flow triggers with the Admin API's <c>flowTriggerReceive</c>, at least once. Runs take turns on every instance (an
/// advisory lock), so slow answers never pile runs up on the job workers. A run claims triggers in turns across shops
/// (<see cref="FlowOptions.MaxPerShopPerRun"/> each) under a lease, and starts a send only if it can end inside that lease, handing
/// the rest back, so a trigger is never sent by two runs at once. A trigger Shopify refuses (<c>userErrors</c>) is <c>failed</c> at
/// once; one that could not be sent is tried again with back-off, and <c>failed</c> after <see cref="FlowOptions.MaxAttempts"/>; one
/// whose shop turned off every workflow using it, or uninstalled the app, is <c>skipped</c>.
/// </summary>
public sealed partial class FlowDelivery(
    NpgsqlDataSource db, ShopifyGraphQLClient shopify, IOptions<FlowOptions> options, ILogger<FlowDelivery> logger)
{
    public const string RecurringId = "flow-delivery";

    private const string RunLockKey = "flow-delivery:run";

    private const string Mutation = """
        mutation FlowTriggerReceive($handle: String!, $payload: JSON!) {
          flowTriggerReceive(handle: $handle, payload: $payload) { userErrors { field message } }
        }
        """;

    private sealed record Claimed(long Id, string ShopDomain, string Handle, string Payload, int Attempts, long Turn);

    [AutomaticRetry(Attempts = 0)]
    public async Task<int> DeliverDueAsync(CancellationToken ct) =>
        await RunAlone.TryAsync(db, RunLockKey, () => RunAsync(ct), ct) ?? 0; // 0: another run is under way, the triggers are its

    private async Task<int> RunAsync(CancellationToken ct)
    {
        var o = options.Value;
        var run = Stopwatch.StartNew();
        await SettleAsync(ct);
        var sent = 0;
        var perShop = new Dictionary<string, int>(StringComparer.Ordinal);
        while (!ct.IsCancellationRequested && run.Elapsed.TotalSeconds < o.MaxRunSeconds)
        {
            var claimed = Stopwatch.StartNew();
            var batch = await ClaimAsync(perShop, ct);
            if (batch.Count == 0) break;
            var unsent = new Queue<Claimed>(batch);
            try
            {
                // A send may take up to the client's throttle wait and timeout: none starts that could outlive the claim's lease.
                while (unsent.TryPeek(out var t) && claimed.Elapsed.TotalSeconds + o.SendSecondsAtMost <= o.LeaseSeconds
                       && !ct.IsCancellationRequested)
                {
                    unsent.Dequeue();
                    perShop[t.ShopDomain] = perShop.GetValueOrDefault(t.ShopDomain) + 1;
                    if (await SendAsync(t, ct)) sent++;
                }
            }
            finally
            {
                if (unsent.Count > 0) await HandBackAsync(unsent, CancellationToken.None);
            }
            if (unsent.Count > 0) break;
        }
        if (sent > 0) LogSent(sent);
        return sent;
    }

    /// <summary>
    /// Before claiming: triggers of shops that no longer use them (or uninstalled the app) are skipped, and any still pending after its
    /// last attempt (its sender died each time) is failed.
    /// </summary>
    private async Task SettleAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE flow_outbox o SET state = 'skipped', last_error = 'no workflow of the shop uses this trigger any more'
            WHERE o.state = 'pending' AND o.next_attempt_at <= now() AND NOT EXISTS (
                SELECT 1 FROM flow_trigger_usage u JOIN shops s ON s.shop_domain = u.shop_domain AND s.state = 'installed'
                WHERE u.shop_domain = o.shop_domain AND u.enabled AND u.trigger IN (o.handle, {TitleOf("o.handle")}));
            UPDATE flow_outbox SET state = 'failed', last_error = coalesce(last_error || '; ', '') || 'no answer after the last attempt'
            WHERE state = 'pending' AND next_attempt_at <= now() AND attempts >= @max;
            """, new { max = options.Value.MaxAttempts }, cancellationToken: ct));
    }

    private static string TitleOf(string handle) =>
        $"CASE {handle} {string.Join(" ", FlowTrigger.All.Select(t => $"WHEN '{t.Handle}' THEN '{t.Title}'"))} END";

    /// <summary>Due triggers, each shop's oldest first, shops in turns, none past a shop's share of the run; leased.</summary>
    private async Task<List<Claimed>> ClaimAsync(Dictionary<string, int> perShop, CancellationToken ct)
    {
        var o = options.Value;
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Claimed>(new CommandDefinition("""
            WITH due AS (
                SELECT o.id, row_number() OVER (PARTITION BY o.shop_domain ORDER BY o.id) + coalesce(u.used, 0) AS turn
                FROM flow_outbox o LEFT JOIN unnest(@shops::text[], @used::int[]) AS u (shop, used) ON u.shop = o.shop_domain
                WHERE o.state = 'pending' AND o.next_attempt_at <= now()
            ), picked AS (
                SELECT o.id, d.turn FROM flow_outbox o JOIN due d ON d.id = o.id
                WHERE d.turn <= @perShop AND o.state = 'pending' AND o.next_attempt_at <= now()
                ORDER BY d.turn, o.id LIMIT @batch
                FOR UPDATE OF o SKIP LOCKED
            )
            UPDATE flow_outbox o SET attempts = o.attempts + 1, next_attempt_at = now() + make_interval(secs => @lease)
            FROM picked WHERE picked.id = o.id
            RETURNING o.id, o.shop_domain, o.handle, o.payload::text AS payload, o.attempts, picked.turn
            """, new
        {
            shops = perShop.Keys.ToArray(), used = perShop.Values.ToArray(), perShop = o.MaxPerShopPerRun, batch = o.BatchSize,
            lease = o.LeaseSeconds,
        }, cancellationToken: ct))).OrderBy(c => c.Turn).ThenBy(c => c.Id).ToList();
    }

    private async Task<bool> SendAsync(Claimed t, CancellationToken ct)
    {
        string? refused = null;
        string? error = null;
        try
        {
            using var payload = JsonDocument.Parse(t.Payload);
            var data = await shopify.MutateAsync(t.ShopDomain, Mutation, new { handle = t.Handle, payload = payload.RootElement },
                TimeSpan.FromSeconds(options.Value.MaxThrottleWaitSeconds), ct);
            var errors = data.GetProperty("flowTriggerReceive").GetProperty("userErrors");
            if (errors.GetArrayLength() > 0)
            {
                refused = string.Join("; ", errors.EnumerateArray().Select(e => e.GetProperty("message").GetString()));
            }
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            error = $"{e.GetType().Name}: {e.Message}"; // this trigger's trouble, whatever it is, never stops the others
        }
        await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
        var o = options.Value;
        var giveUp = refused is not null || t.Attempts >= o.MaxAttempts;
        var delay = Math.Min(o.MaxRetryDelaySeconds, o.RetryBaseDelaySeconds * Math.Pow(2, Math.Min(t.Attempts - 1, 20)));
        // Only while this run still holds the trigger (its claim's attempt): a run whose lease ran out changes nothing.
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE flow_outbox SET
                state = CASE WHEN @delivered THEN 'delivered' WHEN @giveUp THEN 'failed' ELSE 'pending' END,
                delivered_at = CASE WHEN @delivered THEN now() END, last_error = left(@why, 1000),
                next_attempt_at = CASE WHEN @delivered THEN next_attempt_at ELSE now() + make_interval(secs => @delay) END
            WHERE id = @Id AND state = 'pending' AND attempts = @Attempts
            """, new { t.Id, t.Attempts, delivered = refused is null && error is null, giveUp, why = refused ?? error, delay },
            cancellationToken: CancellationToken.None));
        if (refused is not null) LogRefused(t.ShopDomain, t.Handle, t.Id, refused);
        else if (error is not null) LogNotSent(t.ShopDomain, t.Handle, t.Id, t.Attempts, giveUp, error);
        return refused is null && error is null;
    }

    /// <summary>Claimed triggers this run did not send: due again, the claim's attempt not counted.</summary>
    private async Task HandBackAsync(IEnumerable<Claimed> triggers, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE flow_outbox o SET attempts = o.attempts - 1, next_attempt_at = now()
            FROM unnest(@ids, @attempts) AS h (id, attempts)
            WHERE o.id = h.id AND o.state = 'pending' AND o.attempts = h.attempts
            """, new { ids = triggers.Select(t => t.Id).ToArray(), attempts = triggers.Select(t => t.Attempts).ToArray() }, cancellationToken: ct));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Flow triggers sent: {Count}")]
    private partial void LogSent(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shopify Flow refused trigger {Handle} ({Id}) of {Shop}: {Errors}; it is not sent again")]
    private partial void LogRefused(string shop, string handle, long id, string errors);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Flow trigger {Handle} ({Id}) of {Shop} not sent at attempt {Attempt} (given up: {GaveUp}): {Error}")]
    private partial void LogNotSent(string shop, string handle, long id, int attempt, bool gaveUp, string error);
}
