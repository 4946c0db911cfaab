namespace Loyalty.ShopifyApp.Features.Webhooks;

public sealed partial class WebhookProcessor
{
    /// <summary>Data minimisation: clear old payloads, drop old delivery rows and old customer data exports.</summary>
    public async Task PurgeAsync(CancellationToken ct)
    {
        var o = options.Value;
        await using var conn = await db.OpenConnectionAsync(ct);
        var cleared = await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE webhook_deliveries SET payload = NULL, payload_cleared_at = now()
            WHERE payload IS NOT NULL AND status IN ('processed', 'skipped')
              AND processed_at < now() - make_interval(days => @payloadDays)
            """, new { payloadDays = o.PayloadRetentionDays }, cancellationToken: ct));
        var deleted = await conn.ExecuteAsync(new CommandDefinition("""
            DELETE FROM webhook_deliveries
            WHERE status IN ('processed', 'skipped') AND received_at < now() - make_interval(days => @deliveryDays)
            """, new { deliveryDays = o.DeliveryRetentionDays }, cancellationToken: ct));
        var exports = await conn.ExecuteAsync(new CommandDefinition(
            "DELETE FROM customer_data_exports WHERE created_at < now() - make_interval(days => @exportDays)",
            new { exportDays = o.DataExportRetentionDays }, cancellationToken: ct));
        if (cleared + deleted + exports > 0) LogPurged(cleared, deleted, exports);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Purged {Payloads} webhook payloads, {Deliveries} old deliveries, {Exports} old data exports")]
    private partial void LogPurged(int payloads, int deliveries, int exports);
}
