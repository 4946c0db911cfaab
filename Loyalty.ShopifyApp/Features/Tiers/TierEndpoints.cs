namespace Loyalty.ShopifyApp.Features.Tiers;

/// <summary>
/// The merchant's tiers: <c>GET /api/admin/tiers</c> (the rules and the active tiers with their member counts), <c>PUT
/// /api/admin/tiers/rules</c> (what tiers measure, over what window, the grace before a drop), <c>POST /api/admin/tiers</c>, <c>PUT
/// /api/admin/tiers/{id}</c>, <c>DELETE /api/admin/tiers/{id}</c> (archives it: its members leave it at their next evaluation, the
/// daily one at the latest), and <c>GET /api/admin/tiers/{id}/members</c>.
/// </summary>
public static class TierEndpoints
{
    /// <param name="CustomerTag">The Shopify customer tag members carry (1-40 letters, digits, spaces, '-' or '_'), or null.</param>
    /// <param name="ConversionBonusPercent">How much more a member's coupon is worth (0-100 %, 2 decimals; 0 or null: none).</param>
    public sealed record TierRequest(string? Name, decimal? Threshold, decimal? Multiplier, IReadOnlyList<string>? Perks, string? CustomerTag = null,
        decimal? ConversionBonusPercent = null);

    public sealed record TierDefinition
    {
        public long Id { get; init; }

        public string Name { get; init; } = "";

        public decimal Threshold { get; init; }

        public decimal Multiplier { get; init; }

        public string[] Perks { get; init; } = [];

        public string? CustomerTag { get; init; }

        public decimal ConversionBonusPercent { get; init; }

        public long Members { get; init; }
    }

    public sealed record RulesRequest(string? Basis, int? WindowMonths, int? GraceDays);

    public sealed record TiersView(TierRules Rules, IReadOnlyList<TierDefinition> Tiers);

    public sealed record Member(long CustomerId, string Source, DateTimeOffset Since, decimal Metric);

    private static readonly TierDefinition Example =
        new() { Id = 3, Name = "Gold", Threshold = 1000m, Multiplier = 1.5m, Perks = ["Free shipping over 50"] };

    /// <summary>The most active tiers a shop may have.</summary>
    public const int MaxTiers = 20;

    public static RouteGroupBuilder MapTiers(this RouteGroupBuilder admin)
    {
        admin.MapGet("/tiers", ListAsync);
        admin.MapPut("/tiers/rules", SetRulesAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_tier_rules")
            .RequestExample(new RulesRequest(TierBases.PointsEarned, 12, 30))
            .ResponseExample(StatusCodes.Status200OK, new TierRules(TierBases.PointsEarned, 12, 30));
        admin.MapPost("/tiers", CreateAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_tier")
            .ProblemCodes(StatusCodes.Status409Conflict, "tier_conflict", "tier_in_campaigns")
            .RequestExample(new TierRequest("Gold", 1000m, 1.5m, ["Free shipping over 50"]))
            .ResponseExample(StatusCodes.Status201Created, Example);
        admin.MapPut("/tiers/{id:long}", UpdateAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_tier")
            .ProblemCodes(StatusCodes.Status409Conflict, "tier_conflict", "tier_in_campaigns")
            .ProblemCodes(StatusCodes.Status404NotFound, "tier_not_found")
            .RequestExample(new TierRequest("Gold", 1000m, 1.5m, ["Free shipping over 50"]))
            .ResponseExample(StatusCodes.Status200OK, Example with { Members = 42 });
        admin.MapDelete("/tiers/{id:long}", ArchiveAsync).ProblemCodes(StatusCodes.Status404NotFound, "tier_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "tier_in_campaigns");
        admin.MapGet("/tiers/{id:long}/members", MembersAsync).ProblemCodes(StatusCodes.Status404NotFound, "tier_not_found");
        return admin;
    }

    private static async Task<TiersView> ListAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        var (rules, _) = await TierProgram.LoadAsync(conn, null, shop, ct);
        var tiers = await conn.QueryAsync<TierDefinition>(new CommandDefinition("""
            SELECT t.id, t.name, t.threshold, t.multiplier, t.perks, t.customer_tag, t.conversion_bonus_percent,
                   (SELECT count(*) FROM customer_tiers c WHERE c.tier_id = t.id) AS members
            FROM tiers t WHERE t.shop_domain = @shop AND t.archived_at IS NULL ORDER BY t.threshold
            """, new { shop }, cancellationToken: ct));
        return new TiersView(rules, tiers.ToList());
    }

    private static async Task<Results<Ok<TierRules>, ProblemHttpResult>> SetRulesAsync(HttpContext http, RulesRequest r, NpgsqlDataSource db,
        CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (r.Basis is null || !TierBases.All.Contains(r.Basis)) errors["basis"] = [$"One of {string.Join(", ", TierBases.All)}."];
        if (r.WindowMonths is not null and not (>= 1 and <= 60)) errors["windowMonths"] = ["1-60 months, or null for the customer's lifetime."];
        if (r.GraceDays is not (>= 0 and <= 365)) errors["graceDays"] = ["0-365 days."];
        if (errors.Count > 0) return Invalid("invalid_tier_rules", "The tier rules are not valid.", errors);
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO tier_programs (shop_domain, basis, window_months, grace_days) VALUES (@shop, @Basis, @WindowMonths, @GraceDays)
            ON CONFLICT (shop_domain) DO UPDATE SET basis = excluded.basis, window_months = excluded.window_months,
                grace_days = excluded.grace_days, updated_at = now()
            """, new { shop = http.User.Shop(), r.Basis, r.WindowMonths, r.GraceDays }, cancellationToken: ct));
        return TypedResults.Ok(new TierRules(r.Basis!, r.WindowMonths, r.GraceDays!.Value));
    }

    private static async Task<Results<Created<TierDefinition>, ProblemHttpResult>> CreateAsync(HttpContext http, TierRequest r, NpgsqlDataSource db,
        CancellationToken ct)
    {
        if (Validate(r) is { } invalid) return invalid;
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        if (await conn.ExecuteScalarAsync<long>(new CommandDefinition(
                "SELECT count(*) FROM tiers WHERE shop_domain = @shop AND archived_at IS NULL", new { shop }, cancellationToken: ct)) >= MaxTiers)
        {
            return Invalid("invalid_tier", $"A shop has at most {MaxTiers} tiers.", new() { ["name"] = [$"At most {MaxTiers} tiers."] });
        }
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (Tag(r) is { } newTag)
        {
            await TierAudience.LockTagsAsync(conn, tx, shop, ct);
            if (await TierAudience.TagClashAsync(conn, tx, shop, 0, newTag, ct)) return TierAudience.InCampaigns("share its tag");
        }
        try
        {
            var tier = await conn.QuerySingleAsync<TierDefinition>(new CommandDefinition("""
                INSERT INTO tiers (shop_domain, name, threshold, multiplier, perks, customer_tag, conversion_bonus_percent)
                VALUES (@shop, @name, @Threshold, @Multiplier, @perks, @tag, @bonus)
                RETURNING id, name, threshold, multiplier, perks, customer_tag, conversion_bonus_percent, 0::bigint AS members
                """, new
                {
                    shop, name = r.Name!.Trim(), r.Threshold, r.Multiplier, perks = Perks(r), tag = Tag(r), bonus = r.ConversionBonusPercent ?? 0m,
                },
                tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
            return TypedResults.Created($"/api/admin/tiers/{tier.Id}", tier);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return Taken();
        }
    }

    /// <summary>
    /// Changes a tier. <c>customerTag</c> and <c>conversionBonusPercent</c> left out keep their values (an empty tag clears it); a new tag
    /// moves onto the tier's members in Shopify, the old one off them, queued in the same transaction.
    /// </summary>
    private static async Task<Results<Ok<TierDefinition>, ProblemHttpResult>> UpdateAsync(HttpContext http, long id, TierRequest r,
        NpgsqlDataSource db, CancellationToken ct)
    {
        if (Validate(r) is { } invalid) return invalid;
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var old = await conn.QuerySingleOrDefaultAsync<(long Id, string? Tag)?>(new CommandDefinition(
            "SELECT id, customer_tag FROM tiers WHERE id = @id AND shop_domain = @shop AND archived_at IS NULL FOR UPDATE", new { id, shop }, tx,
            cancellationToken: ct));
        if (old is null) return NotFound();
        var tag = r.CustomerTag is null ? old.Value.Tag : Tag(r);
        if (tag is null && old.Value.Tag is not null && await TierAudience.InCampaignsAsync(conn, tx, id, ct))
        {
            return TierAudience.InCampaigns("lose its customer tag");
        }
        if (tag is not null && !string.Equals(tag, old.Value.Tag, StringComparison.OrdinalIgnoreCase))
        {
            await TierAudience.LockTagsAsync(conn, tx, shop, ct);
            if (await TierAudience.TagClashAsync(conn, tx, shop, id, tag, ct)) return TierAudience.InCampaigns("share its tag");
        }
        try
        {
            var tier = await conn.QuerySingleAsync<TierDefinition>(new CommandDefinition("""
                UPDATE tiers SET name = @name, threshold = @Threshold, multiplier = @Multiplier, perks = @perks, customer_tag = @tag,
                    conversion_bonus_percent = coalesce(@bonus, conversion_bonus_percent), updated_at = now()
                WHERE id = @id
                RETURNING id, name, threshold, multiplier, perks, customer_tag, conversion_bonus_percent,
                    (SELECT count(*) FROM customer_tiers c WHERE c.tier_id = tiers.id) AS members
                """, new { id, name = r.Name!.Trim(), r.Threshold, r.Multiplier, perks = Perks(r), tag, bonus = r.ConversionBonusPercent },
                tx, cancellationToken: ct));
            if (!string.Equals(tag, old.Value.Tag, StringComparison.OrdinalIgnoreCase))
            {
                await RetagMembersAsync(conn, tx, shop, id, old.Value.Tag, tag, ct);
            }
            await tx.CommitAsync(ct);
            return TypedResults.Ok(tier);
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return Taken();
        }
    }

    /// <summary>Queues, for every member of the tier (by the rules or by hand), the move from its old tag to its new one in Shopify.</summary>
    private static Task RetagMembersAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long id, string? oldTag, string? newTag,
        CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO customer_tag_changes (shop_domain, customer_id, add_tags, remove_tags)
            SELECT shop_domain, customer_id, @add, @remove FROM customer_tiers WHERE shop_domain = @shop AND tier_id = @id
            """, new
        {
            shop, id, add = newTag is null ? Array.Empty<string>() : [newTag], remove = oldTag is null ? Array.Empty<string>() : [oldTag],
        }, tx, cancellationToken: ct));

    /// <summary>Archives a tier: its members leave it (computed ones at their next evaluation), and its tag leaves them in Shopify now.</summary>
    private static async Task<Results<NoContent, ProblemHttpResult>> ArchiveAsync(HttpContext http, long id, NpgsqlDataSource db,
        CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // Locked first: a campaign being stored for the tier holds it (FOR SHARE) until it commits, so this sees it.
        var tag = await conn.QuerySingleOrDefaultAsync<(long Id, string? Tag)?>(new CommandDefinition(
            "SELECT id, customer_tag FROM tiers WHERE id = @id AND shop_domain = @shop AND archived_at IS NULL FOR UPDATE",
            new { id, shop }, tx, cancellationToken: ct));
        if (tag is null) return NotFound();
        if (await TierAudience.InCampaignsAsync(conn, tx, id, ct)) return TierAudience.InCampaigns("be archived");
        await conn.ExecuteAsync(new CommandDefinition("UPDATE tiers SET archived_at = now(), updated_at = now() WHERE id = @id",
            new { id }, tx, cancellationToken: ct));
        if (tag.Value.Tag is { } gone) await RetagMembersAsync(conn, tx, shop, id, gone, null, ct);
        await tx.CommitAsync(ct);
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<List<Member>>, ProblemHttpResult>> MembersAsync(HttpContext http, long id, long? after, int? limit,
        NpgsqlDataSource db, CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        if (!await conn.ExecuteScalarAsync<bool>(new CommandDefinition(
                "SELECT EXISTS (SELECT 1 FROM tiers WHERE id = @id AND shop_domain = @shop)", new { id, shop }, cancellationToken: ct)))
        {
            return NotFound();
        }
        var members = await conn.QueryAsync<Member>(new CommandDefinition("""
            SELECT customer_id, source, since, metric FROM customer_tiers
            WHERE shop_domain = @shop AND tier_id = @id AND customer_id > @after ORDER BY customer_id LIMIT @limit
            """, new { shop, id, after = after ?? 0, limit = Math.Clamp(limit ?? 100, 1, 500) }, cancellationToken: ct));
        return TypedResults.Ok(members.ToList());
    }

    private static string[] Perks(TierRequest r) => [.. (r.Perks ?? []).Select(p => p.Trim())];

    private static string? Tag(TierRequest r) => string.IsNullOrWhiteSpace(r.CustomerTag) ? null : r.CustomerTag.Trim();

    private static ProblemHttpResult? Validate(TierRequest r)
    {
        var errors = new Dictionary<string, string[]>();
        if (r.Name?.Trim() is not { Length: >= 1 and <= 60 } || StoredText.HasNul(r.Name)) errors["name"] = ["1-60 characters."];
        if (r.Threshold is not (> 0 and <= 1_000_000_000_000m) || decimal.Round(r.Threshold.Value, 2) != r.Threshold)
            errors["threshold"] = ["More than 0, at most 10^12, with at most 2 decimals (points or shop currency, as the rules measure)."];
        if (r.Multiplier is not (>= 1 and <= 10) || decimal.Round(r.Multiplier.Value, 3) != r.Multiplier)
            errors["multiplier"] = ["1 to 10, with at most 3 decimals."];
        if (r.Perks is { } perks && (perks.Count > 10 || perks.Any(p => p?.Trim() is not { Length: >= 1 and <= 100 } || StoredText.HasNul(p))))
            errors["perks"] = ["At most 10 perks of 1-100 characters each."];
        if (Tag(r) is { } tag && !System.Text.RegularExpressions.Regex.IsMatch(tag, "^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$"))
            errors["customerTag"] = ["1-40 letters, digits, spaces, '-' or '_', starting with a letter or digit."];
        if (r.ConversionBonusPercent is { } bonus && (bonus is < 0 or > 100 || decimal.Round(bonus, 2) != bonus))
            errors["conversionBonusPercent"] = ["0 to 100 (percent), with at most 2 decimals."];
        return errors.Count > 0 ? Invalid("invalid_tier", "The tier is not valid.", errors) : null;
    }

    private static ProblemHttpResult Invalid(string code, string title, Dictionary<string, string[]> errors) =>
        Problems.Validation(code, title, "See errors for each field.", new Dictionary<string, object?> { ["errors"] = errors });

    private static ProblemHttpResult Taken() =>
        Problems.Create(StatusCodes.Status409Conflict, "tier_conflict", "Another active tier has this name or this threshold.");

    private static ProblemHttpResult NotFound() => Problems.NotFound("tier_not_found", "No such tier in this shop.");
}
