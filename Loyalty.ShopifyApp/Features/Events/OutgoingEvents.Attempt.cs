using System.Net.Http.Headers;
using System.Security.Cryptography;

namespace Loyalty.ShopifyApp.Features.Events;

/// <summary>One delivery attempt: the event signed and POSTed to the shop's endpoint, and what came of it recorded.</summary>
public sealed partial class OutgoingEvents
{
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
                await UpdateAsync(
                    "UPDATE outgoing_events SET state = 'delivered', delivered_at = now(), last_status = @status, last_error = NULL WHERE id = @id",
                    new { id = e.Id, status }, ct);
                return true;
            }
            error = $"HTTP {status}";
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException or CryptographicException or IOException
            && !ct.IsCancellationRequested)
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
        var delay = Math.Min(o.RetryBaseDelaySeconds * Math.Pow(2, e.Attempts - 1),
            o.MaxRetryDelaySeconds) * (0.8 + Random.Shared.NextDouble() * 0.4);
        await UpdateAsync("""
            UPDATE outgoing_events SET state = CASE WHEN @failed THEN 'failed' ELSE 'pending' END, last_status = @status, last_error = @error,
                next_attempt_at = now() + make_interval(secs => @delay)
            WHERE id = @id
            """, new { id = e.Id, failed, status, error, delay }, ct);
        LogFailed(e.ShopDomain, e.Id, e.Type, e.Attempts, error, detail, failed);
        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Event {EventId} ({Type}) for {Shop} not delivered on attempt {Attempt}: {Error} (given up: {Failed}) {Detail}")]
    private partial void LogFailed(string shop, string eventId, string type, int attempt, string? error, string? detail, bool failed);
}
