namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>A delivery that failed: retried with back-off, or parked once retrying cannot help.</summary>
public sealed partial class WebhookProcessor
{
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
}
