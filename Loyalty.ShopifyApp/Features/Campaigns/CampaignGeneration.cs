using Hangfire;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// Creates a campaign's discount (its first code) and adds the other codes with <c>discountRedeemCodeBulkAdd</c>
/// in batches of at most 250. Resumable and never sending a code twice: every code is stored before anything
/// is sent, a batch is recorded before it is sent, and on a later run a batch that was sent without its
/// answer being recorded is checked code by code (<c>codeDiscountNodeByCode</c>) before its missing codes go
/// out again. Shopify's cost-based throttle is respected by the GraphQL client (it waits, never fails).
/// </summary>
public sealed partial class CampaignGeneration(NpgsqlDataSource db, ShopifyDiscounts shopify, Tiers.TierSegments segments,
    IOptions<CampaignOptions> options, ILogger<CampaignGeneration> logger)
{
    /// <summary>The background job: scheduled for many codes, and for a single code Shopify could not be reached for.</summary>
    [AutomaticRetry(Attempts = 5)]
    public Task GenerateAsync(long campaignId, CancellationToken ct) => TryRunAsync(campaignId, null, ct);

    /// <summary>
    /// Runs the campaign's creation unless another run holds it (false). <paramref name="maxThrottleWait"/> bounds the
    /// wait for Shopify's cost bucket before the discount is created (a merchant is waiting); null: the default.
    /// </summary>
    public async Task<bool> TryRunAsync(long campaignId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        // One run per campaign at a time, on any instance; other campaigns go on in parallel.
        await using var held = await CampaignLock.TryTakeAsync(db, campaignId, ct);
        if (held is null)
        {
            LogBusy(campaignId);
            return false;
        }
        await RunAsync(campaignId, maxThrottleWait, ct);
        return true;
    }

    private async Task RunAsync(long campaignId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var c = await LoadAsync(campaignId, ct);
        if (c is null || c.State is not (CampaignState.Creating or CampaignState.Generating)) return;

        try
        {
            if (c.DiscountId is null)
            {
                var first = await ScalarAsync<string>("SELECT code FROM campaign_codes WHERE campaign_id = @campaignId AND seq = 0",
                    new { campaignId }, ct);
                // An earlier create whose answer was lost may have applied: the campaign id in the title says it is ours.
                var found = await shopify.FindByCodeAsync(c.ShopDomain, first!, maxThrottleWait, ct);
                var segment = c.TierId is { } tier ? await TierSegmentAsync(c.ShopDomain, tier, maxThrottleWait, ct) : null;
                var discountId = IsOurs(found, c.Id) ? found!.Id
                    : await shopify.CreateCampaignDiscountAsync(c.ShopDomain, c.Discount(first!, segment), maxThrottleWait, ct);
                // A discount an earlier run created (its answer lost) may name a segment deleted since: moved onto the tier's.
                if (IsOurs(found, c.Id) && segment is not null) await shopify.MoveToSegmentAsync(c.ShopDomain, discountId, null, segment, ct);
                await ExecuteAsync("""
                    UPDATE campaigns SET discount_id = @discountId, state = 'generating', updated_at = now() WHERE id = @campaignId;
                    UPDATE campaign_codes SET state = 'created' WHERE campaign_id = @campaignId AND seq = 0;
                    """, new { discountId, campaignId }, ct);
                c = c with { DiscountId = discountId };
            }

            await RecoverUnansweredBatchesAsync(c, ct);
            foreach (var (batchId, bulkId) in await QueryAsync<(long, string)>(
                         "SELECT id, bulk_creation_id FROM campaign_batches WHERE campaign_id = @campaignId AND state = 'sent' ORDER BY id",
                         new { campaignId }, ct))
            {
                await FinishBatchAsync(c, batchId, bulkId, ct);
            }

            while (true)
            {
                var codes = await QueryAsync<string>("""
                    SELECT code FROM campaign_codes WHERE campaign_id = @campaignId AND state = 'pending' ORDER BY seq LIMIT 250
                    """, new { campaignId }, ct);
                if (codes.Count == 0) break;
                var batchId = await ScalarAsync<long>("""
                    WITH b AS (INSERT INTO campaign_batches (campaign_id, state) VALUES (@campaignId, 'sending') RETURNING id)
                    UPDATE campaign_codes SET state = 'sent', batch_id = (SELECT id FROM b)
                    WHERE campaign_id = @campaignId AND code = ANY(@codes)
                    RETURNING (SELECT id FROM b)
                    """, new { campaignId, codes = codes.ToArray() }, ct);
                var bulkId = await shopify.BulkAddCodesAsync(c.ShopDomain, c.DiscountId!, codes, ct);
                await ExecuteAsync("UPDATE campaign_batches SET state = 'sent', bulk_creation_id = @bulkId WHERE id = @batchId",
                    new { bulkId, batchId }, ct);
                await FinishBatchAsync(c, batchId, bulkId, ct);
            }

            await using (var conn = await db.OpenConnectionAsync(ct))
            await using (var tx = await conn.BeginTransactionAsync(ct))
            {
                var activated = await conn.ExecuteAsync(new CommandDefinition(
                    "UPDATE campaigns SET state = 'active', last_error = NULL, updated_at = now() WHERE id = @campaignId AND state = 'generating'",
                    new { campaignId }, tx, cancellationToken: ct));
                if (activated == 1)
                {
                    var created = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                        "SELECT count(*) FROM campaign_codes WHERE campaign_id = @campaignId AND state = 'created'", new { campaignId }, tx,
                        cancellationToken: ct));
                    // One event per campaign (not per code): its codes are in codes.csv.
                    await Events.OutgoingEvents.EmitAsync(conn, tx, c.ShopDomain, "coupon.created", new
                    {
                        campaignId, title = c.Title, discountType = c.DiscountType, value = c.Value, codes = created, source = "campaign",
                    }, ct);
                }
                await tx.CommitAsync(ct);
            }
            LogDone(c.ShopDomain, campaignId);
        }
        catch (Exception e) when ((e is ShopifyUserErrorException or Tiers.TierSegments.NotASegmentException) && c.DiscountId is null)
        {
            // A definite refusal (by Shopify, or a tier that cannot be a segment): Shopify has no discount and no code of this campaign, so
            // its codes are given back.
            await ExecuteAsync("""
                UPDATE campaigns SET state = @failed, last_error = @error, updated_at = now() WHERE id = @campaignId AND state = @creating;
                UPDATE campaign_codes SET state = @released WHERE campaign_id = @campaignId AND state = @pending;
                """, new
            {
                error = e.Message, campaignId, failed = CampaignState.Failed, creating = CampaignState.Creating, released = CodeState.Released,
                pending = CodeState.Pending,
            }, ct);
            LogFailed(c.ShopDomain, campaignId, e.Message);
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopifyUserErrorException
                                      or ShopNotAuthorizedException)
        {
            // Resumable: the next run (Hangfire's retry, or a merchant's) continues from what is recorded.
            await ExecuteAsync("UPDATE campaigns SET last_error = @error, updated_at = now() WHERE id = @campaignId",
                new { error = e.Message, campaignId }, ct);
            LogInterrupted(c.ShopDomain, campaignId, e.Message);
            throw;
        }
    }

    /// <summary>
    /// The segment of the campaign's tier, checked again now (a retry, or a tier that came to share its tag since the campaign was
    /// stored): a tier that can no longer be an audience fails the campaign before Shopify has a discount open to others.
    /// </summary>
    private async Task<string> TierSegmentAsync(string shop, long tierId, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            if (await Tiers.TierAudience.WhyNotAsync(conn, null, shop, tierId, lockTier: false, ct) is { } why)
            {
                throw new Tiers.TierSegments.NotASegmentException(why);
            }
        }
        return await segments.EnsureAsync(shop, tierId, maxThrottleWait, ct);
    }

    /// <summary>The end of the title of a campaign's discount in Shopify: how a code found there is recognised as this campaign's.</summary>
    public static string Marker(long campaignId) => $" (campaign {campaignId})";

    public static bool IsOurs(ShopifyDiscounts.FoundCode? found, long campaignId) =>
        found is not null && found.Title?.EndsWith(Marker(campaignId), StringComparison.Ordinal) == true;

    private async Task<StoredCampaign?> LoadAsync(long id, CancellationToken ct) =>
        (await QueryAsync<StoredCampaign>("""
            SELECT id, shop_domain, title, discount_type, value, starts_at, ends_at, usage_limit, once_per_customer, minimum_subtotal,
                   combines_product, combines_order, combines_shipping, customer_ids, tier_id, state, discount_id
            FROM campaigns WHERE id = @id
            """, new { id }, ct)).SingleOrDefault();

    private async Task<List<T>> QueryAsync<T>(string sql, object args, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct))).ToList();
    }

    private async Task<T?> ScalarAsync<T>(string sql, object args, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.ExecuteScalarAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    private async Task ExecuteAsync(string sql, object args, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Campaign {CampaignId} is being generated by another run; leaving it to that one")]
    private partial void LogBusy(long campaignId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Campaign {CampaignId} of {Shop}: all codes handled")]
    private partial void LogDone(string shop, long campaignId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Campaign {CampaignId} of {Shop} failed: {Error}")]
    private partial void LogFailed(string shop, long campaignId, string error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Campaign {CampaignId} of {Shop} interrupted ({Error}); it resumes on the next run")]
    private partial void LogInterrupted(string shop, long campaignId, string error);
}
