using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Http;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>The merchant's view of points on their way to the POS: <c>GET /api/admin/pos-sync?state=parked</c> and retry.</summary>
public static class PosSyncEndpoints
{
    public sealed record Item(long Id, long CustomerId, string Reference, long Points, string State, int Attempts, string? LastError,
        DateTimeOffset CreatedAt, DateTimeOffset? DeliveredAt, DateTimeOffset NextAttemptAt);

    private static readonly string[] States = ["pending", "delivered", "parked", "skipped"];

    public static RouteGroupBuilder MapPosSync(this RouteGroupBuilder admin)
    {
        admin.MapGet("/pos-sync", ListAsync);
        admin.MapPost("/pos-sync/{id:long}/retry", RetryAsync);
        return admin;
    }

    private static async Task<Results<Ok<IReadOnlyList<Item>>, ProblemHttpResult>> ListAsync(
        HttpContext http, NpgsqlDataSource db, string? state, long? before, int? limit, CancellationToken ct)
    {
        if (state is not null && !States.Contains(state))
        {
            return Problems.Validation("invalid_state", "Unknown state.", $"Use one of: {string.Join(", ", States)}.");
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<Item> items = (await conn.QueryAsync<Item>(new CommandDefinition("""
            SELECT id, customer_id, reference, points, state, attempts, last_error, created_at, delivered_at, next_attempt_at
            FROM pos_outbox
            WHERE shop_domain = @shop AND (@state::text IS NULL OR state = @state) AND (@before::bigint IS NULL OR id < @before)
            ORDER BY id DESC LIMIT @take
            """, new { shop = http.User.Shop(), state, before, take = Math.Clamp(limit ?? 50, 1, 200) }, cancellationToken: ct))).ToList();
        return TypedResults.Ok(items);
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RetryAsync(HttpContext http, NpgsqlDataSource db, PosSyncTrigger trigger,
        long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var state = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT state FROM pos_outbox WHERE id = @id AND shop_domain = @shop", new { id, shop = http.User.Shop() }, cancellationToken: ct));
        if (state is null) return Problems.NotFound("pos_sync_not_found", "No such POS sync entry for this shop.");
        if (state != "parked") return Problems.Create(StatusCodes.Status409Conflict, "pos_sync_not_parked", $"Only parked entries can be retried; this one is {state}.");
        await conn.ExecuteAsync(new CommandDefinition(
            "UPDATE pos_outbox SET state = 'pending', attempts = 0, next_attempt_at = now() WHERE id = @id AND state = 'parked'",
            new { id }, cancellationToken: ct));
        trigger.Notify();
        return TypedResults.NoContent();
    }
}
