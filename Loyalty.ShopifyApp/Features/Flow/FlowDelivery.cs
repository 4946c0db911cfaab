using System.Diagnostics;
using Hangfire;

namespace Loyalty.ShopifyApp.Features.Flow;

/// <summary>
/// Sends queued Flow triggers with the Admin API's <c>flowTriggerReceive</c>, at least once: claimed in turns across shops
/// (<see cref="FlowOptions.MaxPerShopPerRun"/> each per run) under a lease, so any instance may run at once and one shop's burst
/// does not hold back another's. A trigger Shopify refuses (<c>userErrors</c>) is <c>failed</c> at once; one that could not be sent
/// (Shopify out of reach, throttled, an error) is tried again with back-off, and <c>failed</c> after <see cref="FlowOptions.MaxAttempts"/>;
/// one whose shop turned off every workflow using it before it was sent is <c>skipped</c>.
/// </summary>
public sealed partial class FlowDelivery(
    NpgsqlDataSource db, ShopifyGraphQLClient shopify, IOptions<FlowOptions> options, ILogger<FlowDelivery> logger)
{
    public const string RecurringId = "flow-delivery";

    private const string Mutation = """
        mutation FlowTriggerReceive($handle: String!, $payload: JSON!) {
          flowTriggerReceive(handle: $handle, payload: $payload) { userErrors { field message } }
        }
        """;

    private sealed record Claimed(long Id, string ShopDomain, string Handle, string Payload, int Attempts);

    [AutomaticRetry(Attempts = 0)]
    public async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        var o = options.Value;
        var run = Stopwatch.StartNew();
        await SkipUnusedAsync(ct);
        var sent = 0;
        var perShop = new Dictionary<string, int>(StringComparer.Ordinal);
        while (!ct.IsCancellationRequested && run.Elapsed.TotalSeconds < o.MaxRunSeconds)
        {
            var batch = await ClaimAsync(perShop, ct);
            if (batch.Count == 0) break;
            foreach (var t in batch)
            {
                perShop[t.ShopDomain] = perShop.GetValueOrDefault(t.ShopDomain) + 1;
                if (await SendAsync(t, ct)) sent++;
            }
        }
        if (sent > 0) LogSent(sent);
        return sent;
    }

    /// <summary>Triggers queued for a shop that has since turned off every workflow using them: not sent.</summary>
    private async Task SkipUnusedAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition($"""
            UPDATE flow_outbox o SET state = 'skipped', last_error = 'no workflow of the shop uses this trigger any more'
            WHERE o.state = 'pending' AND o.next_attempt_at <= now() AND NOT EXISTS (
                SELECT 1 FROM flow_trigger_usage u WHERE u.shop_domain = o.shop_domain AND u.enabled
                  AND u.trigger IN (o.handle, {TitleOf("o.handle")}))
            """, cancellationToken: ct));
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
            RETURNING o.id, o.shop_domain, o.handle, o.payload::text AS payload, o.attempts
            """, new
        {
            shops = perShop.Keys.ToArray(), used = perShop.Values.ToArray(), perShop = o.MaxPerShopPerRun, batch = o.BatchSize,
            lease = o.LeaseSeconds,
        }, cancellationToken: ct))).OrderBy(c => c.Id).ToList();
    }

    private async Task<bool> SendAsync(Claimed t, CancellationToken ct)
    {
        string? refused = null;
        string? error = null;
        try
        {
            using var payload = JsonDocument.Parse(t.Payload);
            var data = await shopify.MutateAsync(t.ShopDomain, Mutation, new { handle = t.Handle, payload = payload.RootElement }, ct);
            var errors = data.GetProperty("flowTriggerReceive").GetProperty("userErrors");
            if (errors.GetArrayLength() > 0)
            {
                refused = string.Join("; ", errors.EnumerateArray().Select(e => e.GetProperty("message").GetString()));
            }
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyThrottledException or ShopifyGraphQLException
                                      or ShopNotAuthorizedException or KeyNotFoundException or InvalidOperationException)
        {
            error = $"{e.GetType().Name}: {e.Message}";
        }
        await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
        if (refused is null && error is null)
        {
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE flow_outbox SET state = 'delivered', delivered_at = now(), last_error = NULL WHERE id = @Id", t,
                cancellationToken: CancellationToken.None));
            return true;
        }
        var o = options.Value;
        var giveUp = refused is not null || t.Attempts >= o.MaxAttempts;
        var delay = Math.Min(o.MaxRetryDelaySeconds, o.RetryBaseDelaySeconds * Math.Pow(2, Math.Min(t.Attempts - 1, 20)));
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE flow_outbox SET state = CASE WHEN @giveUp THEN 'failed' ELSE 'pending' END, last_error = left(@why, 1000),
                next_attempt_at = now() + make_interval(secs => @delay)
            WHERE id = @id
            """, new { id = t.Id, giveUp, why = refused ?? error, delay }, cancellationToken: CancellationToken.None));
        if (refused is not null) LogRefused(t.ShopDomain, t.Handle, t.Id, refused);
        else LogNotSent(t.ShopDomain, t.Handle, t.Id, t.Attempts, giveUp, error!);
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Flow triggers sent: {Count}")]
    private partial void LogSent(int count);

    [LoggerMessage(Level = LogLevel.Error, Message = "Shopify Flow refused trigger {Handle} ({Id}) of {Shop}: {Errors}; it is not sent again")]
    private partial void LogRefused(string shop, string handle, long id, string errors);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Flow trigger {Handle} ({Id}) of {Shop} not sent at attempt {Attempt} (given up: {GaveUp}): {Error}")]
    private partial void LogNotSent(string shop, string handle, long id, int attempt, bool gaveUp, string error);
}
