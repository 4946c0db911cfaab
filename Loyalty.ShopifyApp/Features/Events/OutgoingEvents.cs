using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Dapper;
using Hangfire;
using Loyalty.Pos;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.Events;

/// <summary>Section <c>Events</c>.</summary>
public sealed class EventOptions
{
    public int MaxAttempts { get; set; } = 15;

    public double RetryBaseDelaySeconds { get; set; } = 30;

    public double MaxRetryDelaySeconds { get; set; } = 6 * 3600;

    public double TimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// The most of an endpoint's answer that is read (64 KiB; only its status matters). A longer answer is a failed
    /// attempt: endpoints are entered by merchants and the instance is shared.
    /// </summary>
    public int MaxResponseBytes { get; set; } = 64 * 1024;

    /// <summary>Accept http:// endpoints and private addresses (sandbox and tests only).</summary>
    public bool AllowInsecureEndpoints { get; set; }
}

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
        var id = "evt_" + Conversion.ConversionIds.NewId()[5..];
        var payload = JsonSerializer.Serialize(new { id, type, shop, createdAt = DateTimeOffset.UtcNow, data }, JsonSerializerOptions.Web);
        return await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO outgoing_events (id, shop_domain, type, payload)
            SELECT @id, @shop, @type, @payload::jsonb WHERE EXISTS (SELECT 1 FROM event_endpoints WHERE shop_domain = @shop)
            """, new { id, shop, type, payload }, tx, cancellationToken: ct)) == 1;
    }

    private sealed record Due(string Id, string ShopDomain, string Type, string Payload, int Attempts, string Url, string SecretProtected);

    [AutomaticRetry(Attempts = 0)]
    public async Task<int> DeliverDueAsync(CancellationToken ct)
    {
        var delivered = 0;
        var attempted = new List<string>(); // each run tries an event at most once; back-off decides the next try
        while (!ct.IsCancellationRequested)
        {
            List<Due> batch;
            await using (var conn = await db.OpenConnectionAsync(ct))
            {
                batch = (await conn.QueryAsync<Due>(new CommandDefinition("""
                    UPDATE outgoing_events e SET attempts = e.attempts + 1, next_attempt_at = now() + interval '2 minutes'
                    FROM event_endpoints p
                    WHERE p.shop_domain = e.shop_domain AND e.id IN (
                        SELECT id FROM outgoing_events WHERE state = 'pending' AND next_attempt_at <= now() AND NOT (id = ANY(@attempted))
                        ORDER BY created_at LIMIT 50 FOR UPDATE SKIP LOCKED)
                    RETURNING e.id, e.shop_domain, e.type, e.payload::text AS payload, e.attempts, p.url, p.secret_protected
                    """, new { attempted = attempted.ToArray() }, cancellationToken: ct))).ToList();
            }
            if (batch.Count == 0) return delivered;
            foreach (var e in batch)
            {
                attempted.Add(e.Id);
                if (await DeliverAsync(e, ct)) delivered++;
            }
        }
        return delivered;
    }

    private async Task<bool> DeliverAsync(Due e, CancellationToken ct)
    {
        int? status = null;
        string? error;
        string? detail = null;
        try
        {
            var body = Encoding.UTF8.GetBytes(e.Payload);
            var t = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            var secret = SecretProtector(dataProtection).Unprotect(e.SecretProtected);
            byte[] signed = [.. Encoding.UTF8.GetBytes($"{t}."), .. body];
            var signature = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(secret), signed));
            using var request = new HttpRequestMessage(HttpMethod.Post, e.Url) { Content = new ByteArrayContent(body) };
            request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            request.Headers.Add("X-Loyalty-Event-Id", e.Id);
            request.Headers.Add("X-Loyalty-Event-Type", e.Type);
            request.Headers.Add("X-Loyalty-Signature", $"t={t},v1={signature}");
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.TimeoutSeconds));
            using var response = await http.CreateClient(HttpClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                await UpdateAsync("UPDATE outgoing_events SET state = 'delivered', delivered_at = now(), last_status = @status, last_error = NULL WHERE id = @id",
                    new { id = e.Id, status }, ct);
                return true;
            }
            error = $"HTTP {status}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or CryptographicException or IOException && !ct.IsCancellationRequested)
        {
            // The merchant sees a stable reason, never a resolved address or transport detail; the detail is logged.
            error = ex switch
            {
                CryptographicException => "the signing secret cannot be read; save the endpoint again",
                ResponseTooLargeException => $"{OutboundFailure.Reason(ex)} (Events:MaxResponseBytes)",
                _ => OutboundFailure.Reason(ex),
            };
            detail = OutboundFailure.Detail(ex);
        }

        var o = options.Value;
        var failed = e.Attempts >= o.MaxAttempts;
        var delay = Math.Min(o.RetryBaseDelaySeconds * Math.Pow(2, e.Attempts - 1), o.MaxRetryDelaySeconds) * (0.8 + Random.Shared.NextDouble() * 0.4);
        await UpdateAsync("""
            UPDATE outgoing_events SET state = CASE WHEN @failed THEN 'failed' ELSE 'pending' END, last_status = @status, last_error = @error,
                next_attempt_at = now() + make_interval(secs => @delay)
            WHERE id = @id
            """, new { id = e.Id, failed, status, error, delay }, ct);
        LogFailed(e.ShopDomain, e.Id, e.Type, e.Attempts, error, detail, failed);
        return false;
    }

    private async Task UpdateAsync(string sql, object args, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Event {EventId} ({Type}) for {Shop} not delivered on attempt {Attempt}: {Error} (given up: {Failed}) {Detail}")]
    private partial void LogFailed(string shop, string eventId, string type, int attempt, string? error, string? detail, bool failed);
}
