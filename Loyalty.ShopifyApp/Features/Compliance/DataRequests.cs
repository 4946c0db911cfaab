namespace Loyalty.ShopifyApp.Features.Compliance;

/// <summary>The merchant fetches customer data exports: <c>GET /api/admin/compliance/data-requests[/{id}]</c>.</summary>
public static class DataRequests
{
    public sealed record Summary(long Id, long CustomerId, long? DataRequestId, DateTimeOffset CreatedAt);

    public sealed record Export(long Id, long CustomerId, long? DataRequestId, DateTimeOffset CreatedAt, JsonElement Data);

    public static RouteGroupBuilder MapDataRequests(this RouteGroupBuilder admin)
    {
        admin.MapGet("/compliance/data-requests", ListAsync);
        admin.MapGet("/compliance/data-requests/{id:long}", GetAsync).ProblemCodes(StatusCodes.Status404NotFound, "export_not_found");
        return admin;
    }

    private static async Task<IReadOnlyList<Summary>> ListAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<Summary>(new CommandDefinition("""
            SELECT id, customer_id, data_request_id, created_at FROM customer_data_exports
            WHERE shop_domain = @shop ORDER BY id DESC LIMIT 500
            """, new { shop = http.User.Shop() }, cancellationToken: ct))).ToList();
    }

    private static async Task<Results<Ok<Export>, ProblemHttpResult>> GetAsync(HttpContext http, NpgsqlDataSource db, long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<(long Id, long CustomerId, long? DataRequestId, DateTime CreatedAt, string Export)>(
            new CommandDefinition("""
                SELECT id, customer_id, data_request_id, created_at, export::text FROM customer_data_exports
                WHERE id = @id AND shop_domain = @shop
                """, new { id, shop = http.User.Shop() }, cancellationToken: ct));
        if (row.Export is null) return Problems.NotFound("export_not_found", "No such data export for this shop.");
        using var doc = JsonDocument.Parse(row.Export);
        return TypedResults.Ok(new Export(row.Id, row.CustomerId, row.DataRequestId, new DateTimeOffset(row.CreatedAt, TimeSpan.Zero),
            doc.RootElement.Clone()));
    }
}
