namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary><c>GET /api/admin/campaigns</c> (paged, by state), <c>GET …/{id}</c> with progress, <c>GET …/{id}/codes.csv</c>.</summary>
public static class CampaignQueries
{
    /// <param name="CustomerIds">The customers who may use it; null: everyone (or the tier's members).</param>
    /// <param name="TierId">The VIP tier whose members alone may use it; null: not limited to a tier.</param>
    public sealed record CampaignView(long Id, string Title, string DiscountType, decimal Value, DateTimeOffset StartsAt, DateTimeOffset? EndsAt,
        int? UsageLimit, bool OncePerCustomer, decimal? MinimumSubtotal, CreateCampaign.CombinesWith CombinesWith, IReadOnlyList<long>? CustomerIds,
        string State, int RequestedCodes, int CreatedCodes, int FailedCodes, int PendingCodes, string? LastError, DateTimeOffset CreatedAt,
        DateTimeOffset UpdatedAt, long? TierId = null);

    /// <summary>A campaign with how far its codes have come.</summary>
    private sealed record Row : StoredCampaign
    {
        public int RequestedCodes { get; init; }
        public int CreatedCodes { get; init; }
        public int FailedCodes { get; init; }
        public int PendingCodes { get; init; }

        public CampaignView View() => new(Id, Title, DiscountType, Value, StartsAt, EndsAt, UsageLimit, OncePerCustomer, MinimumSubtotal,
            new CreateCampaign.CombinesWith(CombinesProduct, CombinesOrder, CombinesShipping), CustomerIds, State, RequestedCodes, CreatedCodes,
            FailedCodes, PendingCodes, LastError, CreatedAt, UpdatedAt, TierId);
    }

    public sealed record Page(IReadOnlyList<CampaignView> Items, long? NextBefore);

    /// <summary>A created one-code campaign, the example of the API description's campaign answers.</summary>
    internal static readonly CampaignView Example = new(42, "Summer sale", "percentage", 10m, new DateTimeOffset(2025, 7, 1, 0, 0, 0, TimeSpan.Zero),
        new DateTimeOffset(2025, 8, 31, 0, 0, 0, TimeSpan.Zero), 500, true, 3000m, new CreateCampaign.CombinesWith(false, true, true), null,
        "active", 1, 1, 0, 0, null, new DateTimeOffset(2025, 6, 20, 8, 0, 0, TimeSpan.Zero), new DateTimeOffset(2025, 6, 20, 8, 0, 1, TimeSpan.Zero));

    private const string Select = """
        SELECT c.id, c.title, c.discount_type, c.value, c.starts_at, c.ends_at, c.usage_limit, c.once_per_customer, c.minimum_subtotal,
               c.combines_product, c.combines_order, c.combines_shipping, c.customer_ids, c.tier_id, c.state, c.requested_codes,
               count(*) FILTER (WHERE k.state = 'created')::int AS created_codes,
               count(*) FILTER (WHERE k.state = 'failed')::int AS failed_codes,
               count(*) FILTER (WHERE k.state IN ('pending', 'sent'))::int AS pending_codes,
               c.last_error, c.created_at, c.updated_at
        FROM campaigns c LEFT JOIN campaign_codes k ON k.campaign_id = c.id
        """;

    public static RouteGroupBuilder MapCampaignQueries(this RouteGroupBuilder admin)
    {
        admin.MapGet("/campaigns", ListAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_state");
        admin.MapGet("/campaigns/{id:long}", GetAsync).ProblemCodes(StatusCodes.Status404NotFound, "campaign_not_found")
            .ResponseExample(StatusCodes.Status200OK, Example);
        admin.MapGet("/campaigns/{id:long}/codes.csv", CsvAsync).ProblemCodes(StatusCodes.Status404NotFound, "campaign_not_found");
        return admin;
    }

    public static async Task<CampaignView?> LoadAsync(NpgsqlDataSource db, string shop, long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(
            Select + " WHERE c.id = @id AND c.shop_domain = @shop GROUP BY c.id", new { id, shop }, cancellationToken: ct)))?.View();
    }

    private static async Task<Results<Ok<Page>, ProblemHttpResult>> ListAsync(HttpContext http, NpgsqlDataSource db, string? state, long? before,
        int? limit, CancellationToken ct)
    {
        if (state is not null && !CampaignState.All.Contains(state)) return Problems.Validation("invalid_state", "Unknown state.",
            string.Join(", ", CampaignState.All));
        var take = Math.Clamp(limit ?? 50, 1, 200);
        await using var conn = await db.OpenConnectionAsync(ct);
        var items = (await conn.QueryAsync<Row>(new CommandDefinition(Select + """
             WHERE c.shop_domain = @shop AND (@state::text IS NULL OR c.state = @state) AND (@before::bigint IS NULL OR c.id < @before)
            GROUP BY c.id ORDER BY c.id DESC LIMIT @take
            """, new { shop = http.User.Shop(), state, before, take }, cancellationToken: ct))).Select(r => r.View()).ToList();
        return TypedResults.Ok(new Page(items, items.Count == take ? items[^1].Id : null));
    }

    private static async Task<Results<Ok<CampaignView>, ProblemHttpResult>> GetAsync(HttpContext http, NpgsqlDataSource db, long id,
        CancellationToken ct) =>
        await LoadAsync(db, http.User.Shop(), id, ct) is { } view ? TypedResults.Ok(view)
            : Problems.NotFound("campaign_not_found", "No such campaign.");

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> CsvAsync(HttpContext http, NpgsqlDataSource db, long id,
        CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        if (await conn.ExecuteScalarAsync<long>(new CommandDefinition("SELECT count(*) FROM campaigns WHERE id = @id AND shop_domain = @shop",
                new { id, shop }, cancellationToken: ct)) == 0)
        {
            return Problems.NotFound("campaign_not_found", "No such campaign.");
        }
        var csv = new StringBuilder("code,state,error\n");
        foreach (var (code, state, error) in await conn.QueryAsync<(string, string, string?)>(new CommandDefinition(
                     "SELECT code, state, error FROM campaign_codes WHERE campaign_id = @id ORDER BY seq", new { id }, cancellationToken: ct)))
        {
            csv.Append(CsvText.Field(code)).Append(',').Append(state).Append(',').Append(CsvText.Field(error)).Append('\n');
        }
        return TypedResults.File(Encoding.UTF8.GetBytes(csv.ToString()), "text/csv", $"campaign-{id}-codes.csv");
    }
}
