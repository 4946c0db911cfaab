namespace Loyalty.ShopifyApp.Features.Webhooks;

public sealed partial class WebhookProcessor
{
    /// <summary>
    /// Every third of the lease, extends it for the batch's deliveries still waiting in their lanes (still <c>processing</c> on this
    /// claim's attempt); the one a lane is working on is locked by its transaction and skipped. Stops when the batch is done.
    /// </summary>
    private async Task RenewLeasesAsync(List<WebhookDelivery> claimed, CancellationToken ct)
    {
        var lease = options.Value.LeaseSeconds;
        var ids = claimed.Select(d => d.Id).ToArray();
        var attempts = claimed.Select(d => d.Attempts).ToArray();
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(lease / 3.0), ct);
                await using var conn = await db.OpenConnectionAsync(ct);
                var renewed = await conn.ExecuteAsync(new CommandDefinition("""
                    UPDATE webhook_deliveries d SET locked_until = now() + make_interval(secs => @lease)
                    WHERE d.id IN (
                        SELECT w.id FROM webhook_deliveries w JOIN unnest(@ids, @attempts) AS c(id, attempts) USING (id, attempts)
                        WHERE w.id = ANY(@ids) AND w.status = 'processing'
                        FOR UPDATE SKIP LOCKED)
                    """, new { lease = (double)lease, ids, attempts }, cancellationToken: ct));
                LogLeaseRenewed(renewed, lease);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                LogLeaseRenewalFailed(e); // tried again at the next third; past the lease another instance may take over, fenced
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Renewed the lease of {Count} claimed webhook deliveries for {LeaseSeconds} s")]
    private partial void LogLeaseRenewed(int count, int leaseSeconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not renew the lease of a claimed webhook batch; trying again")]
    private partial void LogLeaseRenewalFailed(Exception e);
}
