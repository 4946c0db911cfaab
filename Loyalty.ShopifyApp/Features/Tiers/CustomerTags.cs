using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Db;

namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// The <c>customer-tags</c> job: a tier's customer tag follows its members in Shopify (<c>tagsAdd</c>, <c>tagsRemove</c>), so a
/// customer segment on the tag limits the merchant's discounts, campaigns or shipping to the tier. Changes are applied in order per
/// customer (only a customer's oldest pending change is claimed), at least once (both mutations are idempotent), one run at a time
/// on every instance; one Shopify refuses is <c>failed</c> with its reason, one that could not be sent is tried again with back-off.
/// </summary>
public sealed partial class CustomerTags(NpgsqlDataSource db, ShopifyGraphQLClient shopify, IOptions<TierOptions> options,
    ILogger<CustomerTags> logger)
{
    public const string RecurringId = "customer-tags";

    private const string RunLockKey = "customer-tags:run";

    /// <summary>A run claims no more after this (the job runs every minute).</summary>
    private static readonly TimeSpan MaxRun = TimeSpan.FromSeconds(45);

    private const string Add = """
        mutation TagsAdd($id: ID!, $tags: [String!]!) { tagsAdd(id: $id, tags: $tags) { node { id } userErrors { field message } } }
        """;

    private const string Remove = """
        mutation TagsRemove($id: ID!, $tags: [String!]!) { tagsRemove(id: $id, tags: $tags) { node { id } userErrors { field message } } }
        """;

    /// <summary>A claimed change (properties, not a constructor: Dapper binds a text[] column to a string[] property only).</summary>
    private sealed record Change
    {
        public long Id { get; init; }

        public string ShopDomain { get; init; } = "";

        public long CustomerId { get; init; }

        public string[] AddTags { get; init; } = [];

        public string[] RemoveTags { get; init; } = [];

        public int Attempts { get; init; }
    }

    [AutomaticRetry(Attempts = 0)]
    public async Task<int> ApplyDueAsync(CancellationToken ct) => await RunAlone.TryAsync(db, RunLockKey, () => RunAsync(ct), ct) ?? 0;

    /// <summary>
    /// Claim after claim, so a customer's next change follows their last within the run; a change that failed waits out its back-off,
    /// and the customer's later ones with it.
    /// </summary>
    private async Task<int> RunAsync(CancellationToken ct)
    {
        var applied = 0;
        var run = System.Diagnostics.Stopwatch.StartNew();
        while (!ct.IsCancellationRequested && run.Elapsed < MaxRun)
        {
            var batch = await ClaimAsync(ct);
            if (batch.Count == 0) break;
            foreach (var change in batch)
            {
                if (ct.IsCancellationRequested) break;
                if (await ApplyAsync(change, ct)) applied++;
            }
        }
        return applied;
    }

    private async Task<List<Change>> ClaimAsync(CancellationToken ct)
    {
        var o = options.Value;
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Change>(new CommandDefinition("""
            UPDATE customer_tag_changes c SET state = 'skipped', last_error = 'the shop uninstalled the app'
            WHERE c.state = 'pending' AND NOT EXISTS (SELECT 1 FROM shops s WHERE s.shop_domain = c.shop_domain AND s.state = 'installed');
            WITH heads AS (
                SELECT DISTINCT ON (shop_domain, customer_id) id FROM customer_tag_changes WHERE state = 'pending'
                ORDER BY shop_domain, customer_id, id
            ), picked AS (
                SELECT c.id FROM customer_tag_changes c JOIN heads h ON h.id = c.id
                WHERE c.state = 'pending' AND c.next_attempt_at <= now() ORDER BY c.id LIMIT @batch
                FOR UPDATE OF c SKIP LOCKED
            )
            UPDATE customer_tag_changes c SET attempts = c.attempts + 1, next_attempt_at = now() + make_interval(secs => @lease)
            FROM picked WHERE picked.id = c.id
            RETURNING c.id, c.shop_domain, c.customer_id, c.add_tags, c.remove_tags, c.attempts
            """, new { batch = o.TagBatchSize, lease = o.TagLeaseSeconds }, cancellationToken: ct))).OrderBy(c => c.Id).ToList();
    }

    private async Task<bool> ApplyAsync(Change c, CancellationToken ct)
    {
        string? refused = null;
        string? error = null;
        try
        {
            var id = $"gid://shopify/Customer/{c.CustomerId}";
            if (c.AddTags.Length > 0) refused = Refused(await shopify.MutateAsync(c.ShopDomain, Add, new { id, tags = c.AddTags },
                TimeSpan.FromSeconds(5), ct), "tagsAdd");
            if (refused is null && c.RemoveTags.Length > 0) refused = Refused(await shopify.MutateAsync(c.ShopDomain, Remove,
                new { id, tags = c.RemoveTags }, TimeSpan.FromSeconds(5), ct), "tagsRemove");
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            error = $"{e.GetType().Name}: {e.Message}";
        }
        var o = options.Value;
        var done = refused is null && error is null;
        var giveUp = refused is not null || c.Attempts >= o.TagMaxAttempts;
        var delay = Math.Min(3600, o.TagRetryBaseDelaySeconds * Math.Pow(2, Math.Min(c.Attempts - 1, 20)));
        await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE customer_tag_changes SET
                state = CASE WHEN @done THEN 'applied' WHEN @giveUp THEN 'failed' ELSE 'pending' END,
                applied_at = CASE WHEN @done THEN now() END, last_error = left(@why, 1000),
                next_attempt_at = CASE WHEN @done THEN next_attempt_at ELSE now() + make_interval(secs => @delay) END
            WHERE id = @Id AND state = 'pending' AND attempts = @Attempts
            """, new { c.Id, c.Attempts, done, giveUp, why = refused ?? error, delay }, cancellationToken: CancellationToken.None));
        if (!done) LogNotApplied(c.ShopDomain, c.CustomerId, c.Id, c.Attempts, giveUp, refused ?? error!);
        return done;
    }

    private static string? Refused(JsonElement data, string field)
    {
        var errors = data.GetProperty(field).GetProperty("userErrors");
        return errors.GetArrayLength() == 0 ? null
            : $"{field}: " + string.Join("; ", errors.EnumerateArray().Select(e => e.GetProperty("message").GetString()));
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Tier tags of customer {CustomerId} of {Shop} (change {Id}) not applied at attempt {Attempt} (given up: {GaveUp}): {Error}")]
    private partial void LogNotApplied(string shop, long customerId, long id, int attempt, bool gaveUp, string error);
}
