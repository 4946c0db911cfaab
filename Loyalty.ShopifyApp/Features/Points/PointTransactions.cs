namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// <c>GET /api/admin/point-transactions</c>: the shop's whole ledger, read-only, newest first (seed 003's
/// <c>/point-transactions</c>). Filtered by customer, kind and a period; paged with <c>before</c> (the last id of the
/// previous page, answered as <c>nextBefore</c>); <c>format=csv</c> streams every matching row as CSV instead. Each row
/// names what it came from: the order, the conversion (its coupon) or the donation.
/// </summary>
public static class PointTransactions
{
    /// <summary>Every kind of ledger row (the schema's check on <c>point_transactions.kind</c>).</summary>
    public static readonly string[] Kinds =
    [
        "order_award", "refund_clawback", "cancellation_reversal", "bonus", "feedback", "manual_adjustment",
        "conversion", "conversion_reversal", "donation", "donation_reversal", "pending_release",
        Ledger.Expiry,
    ];

    /// <param name="ConversionId">The conversion (loyalty coupon) a conversion or its reversal belongs to.</param>
    /// <param name="DonationId">The donation a donation row belongs to.</param>
    /// <param name="Rate">For an order award: the earn rate applied; <paramref name="BasisAmount"/> is the amount it applied to.</param>
    public sealed record Item(long Id, long CustomerId, long Points, string Kind, string Reference, string Description, string ActorType,
        string? ActorId, long? OrderId, string? ConversionId, string? DonationId, decimal? Rate, decimal? BasisAmount, string? Currency,
        long BalanceAfter, DateTimeOffset CreatedAt);

    /// <param name="NextBefore">Pass as <c>before</c> for the next page; null on the last page.</param>
    public sealed record Page(IReadOnlyList<Item> Items, long? NextBefore);

    private sealed record Filter(string Shop, long? CustomerId, string? Kind, DateTimeOffset? From, DateTimeOffset? To, long? Before, int Limit);

    public static RouteGroupBuilder MapPointTransactions(this RouteGroupBuilder admin)
    {
        admin.MapGet("/point-transactions", ListAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_filter");
        return admin;
    }

    private static async Task<Results<Ok<Page>, PushStreamHttpResult, ProblemHttpResult>> ListAsync(HttpContext http, NpgsqlDataSource db,
        long? customerId, string? kind, DateTimeOffset? from, DateTimeOffset? to, long? before, int? limit, string? format, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (customerId is <= 0) errors["customerId"] = ["Customer ids are positive numbers."];
        if (kind is not null && !Kinds.Contains(kind)) errors["kind"] = [$"One of: {string.Join(", ", Kinds)}."];
        if (from is { Year: < 2000 or >= 3000 }) errors["from"] = ["Must fall between the years 2000 and 2999."];
        if (to is { Year: < 2000 or >= 3000 }) errors["to"] = ["Must fall between the years 2000 and 2999."];
        if (from is not null && to is not null && from >= to) errors["from"] = ["Must be before to."];
        if (before is <= 0) errors["before"] = ["Must be a positive id (nextBefore of the previous page)."];
        if (limit is < 1 or > 500) errors["limit"] = ["Must be 1-500."];
        if (format is not (null or "json" or "csv")) errors["format"] = ["json or csv."];
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_filter", "The filter is not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }

        var filter = new Filter(http.User.Shop(), customerId, kind, from, to, before, limit ?? 50);
        if (format == "csv") return TypedResults.Stream(stream => WriteCsvAsync(stream, db, filter, http.RequestAborted), "text/csv",
            "point-transactions.csv");

        await using var conn = await db.OpenConnectionAsync(ct);
        var items = (await conn.QueryAsync<Row>(new CommandDefinition(Select + " LIMIT @Limit", filter, cancellationToken: ct))).Select(
            ToItem).ToList();
        return TypedResults.Ok(new Page(items, items.Count == filter.Limit ? items[^1].Id : null));
    }

    private const string Select = """
        SELECT id, customer_id, points, kind, reference, description, actor_type, actor_id, order_id, rate, basis_amount, currency,
               balance_after, created_at
        FROM point_transactions
        WHERE shop_domain = @Shop
          AND (@CustomerId::bigint IS NULL OR customer_id = @CustomerId)
          AND (@Kind::text IS NULL OR kind = @Kind)
          AND (@From::timestamptz IS NULL OR created_at >= @From)
          AND (@To::timestamptz IS NULL OR created_at < @To)
          AND (@Before::bigint IS NULL OR id < @Before)
        ORDER BY id DESC
        """;

    private sealed record Row(long Id, long CustomerId, long Points, string Kind, string Reference, string Description, string ActorType,
        string? ActorId, long? OrderId, decimal? Rate, decimal? BasisAmount, string? Currency, long BalanceAfter, DateTimeOffset CreatedAt);

    /// <summary>
    /// Conversions post their id (<c>conv_…</c>, <c>conv_…:reversal</c>) and donations theirs (<c>don_…</c>) as the reference.
    /// </summary>
    private static Item ToItem(Row r)
    {
        var source = r.Reference.Split(':')[0];
        return new Item(r.Id, r.CustomerId, r.Points, r.Kind, r.Reference, r.Description, r.ActorType, r.ActorId, r.OrderId,
            source.StartsWith("conv_", StringComparison.Ordinal) ? source : null, source.StartsWith("don_", StringComparison.Ordinal) ? source : null,
            r.Rate, r.BasisAmount, r.Currency, r.BalanceAfter, r.CreatedAt);
    }

    /// <summary>Rows an export reads per query; no connection is held while the client reads what was written.</summary>
    private const int ExportPage = 1000;

    /// <summary>
    /// Every matching row (no page limit), written page by page: each page is read on a connection of its own that goes back to
    /// the pool before the rows are written, so a slow client holds none.
    /// </summary>
    private static async Task WriteCsvAsync(Stream stream, NpgsqlDataSource db, Filter filter, CancellationToken ct)
    {
        await using var writer = new StreamWriter(stream, new UTF8Encoding(false));
        await writer.WriteAsync("id,created_at,customer_id,kind,points,balance_after,order_id,conversion_id,donation_id,rate,basis_amount,currency,"
            + "actor_type,actor_id,reference,description\n");
        var page = filter with { Limit = ExportPage };
        while (true)
        {
            List<Row> rows;
            await using (var conn = await db.OpenConnectionAsync(ct))
            {
                rows = [.. await conn.QueryAsync<Row>(new CommandDefinition(Select + " LIMIT @Limit", page, cancellationToken: ct))];
            }
            foreach (var item in rows.Select(ToItem))
            {
                await writer.WriteAsync(string.Create(CultureInfo.InvariantCulture,
                    $"{item.Id},{item.CreatedAt.UtcDateTime:yyyy-MM-ddTHH:mm:ss.fffZ},{item.CustomerId},{item.Kind},{item.Points},"
                    + $"{item.BalanceAfter},{item.OrderId},{item.ConversionId},{item.DonationId},{item.Rate},{item.BasisAmount},"
                    + $"{item.Currency},{item.ActorType},{CsvText.Field(item.ActorId)},{CsvText.Field(item.Reference)},"
                    + $"{CsvText.Field(item.Description)}\n"));
            }
            if (rows.Count < ExportPage) return;
            page = page with { Before = rows[^1].Id };
        }
    }
}
