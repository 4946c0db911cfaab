namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// The batches of a campaign's codes: each one is recorded before it is sent, polled until Shopify is done with it,
/// and one left unanswered by a crash is checked code by code before its missing codes go out again.
/// </summary>
public sealed partial class CampaignGeneration
{
    /// <summary>A batch recorded as sending but never answered: keep the codes Shopify has, send the rest again.</summary>
    private async Task RecoverUnansweredBatchesAsync(StoredCampaign c, CancellationToken ct)
    {
        foreach (var batchId in await QueryAsync<long>("SELECT id FROM campaign_batches WHERE campaign_id = @Id AND state = 'sending'", c, ct))
        {
            foreach (var code in await QueryAsync<string>("SELECT code FROM campaign_codes WHERE batch_id = @batchId AND state = 'sent'",
                new { batchId }, ct))
            {
                var exists = await shopify.FindByCodeAsync(c.ShopDomain, code, ct) is not null;
                await ExecuteAsync("""
                    UPDATE campaign_codes SET state = CASE WHEN @exists THEN 'created' ELSE 'pending' END,
                                              batch_id = CASE WHEN @exists THEN batch_id END
                    WHERE campaign_id = @Id AND code = @code
                    """, new { exists, c.Id, code }, ct);
            }
            await ExecuteAsync("UPDATE campaign_batches SET state = 'done' WHERE id = @batchId", new { batchId }, ct);
            LogRecovered(c.ShopDomain, c.Id, batchId);
        }
    }

    private async Task FinishBatchAsync(StoredCampaign c, long batchId, string bulkId, CancellationToken ct)
    {
        for (var poll = 0; poll < options.Value.BulkMaxPolls; poll++)
        {
            var status = await shopify.BulkCreationAsync(c.ShopDomain, bulkId, ct);
            if (status.Done)
            {
                await ExecuteAsync("""
                    UPDATE campaign_codes SET state = CASE WHEN upper(code) = ANY(@failed) THEN 'failed' ELSE 'created' END,
                                              error = (@errors::jsonb) ->> upper(code)
                    WHERE batch_id = @batchId AND state = 'sent';
                    UPDATE campaign_batches SET state = 'done' WHERE id = @batchId;
                    """, new
                {
                    batchId,
                    failed = status.Errors.Keys.Select(k => k.ToUpperInvariant()).ToArray(),
                    errors = System.Text.Json.JsonSerializer.Serialize(status.Errors.ToDictionary(kv => kv.Key.ToUpperInvariant(), kv => kv.Value)),
                }, ct);
                return;
            }
            await Task.Delay(options.Value.BulkPollIntervalMs, ct);
        }
        throw new ShopifyUnavailableException($"Bulk creation {bulkId} did not finish in time; the next run polls it again.");
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Campaign {CampaignId} of {Shop}: batch {BatchId} had no recorded answer; checked its codes one by one")]
    private partial void LogRecovered(string shop, long campaignId, long batchId);
}
