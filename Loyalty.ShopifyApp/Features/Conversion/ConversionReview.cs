using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Http;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary><c>GET /api/admin/conversions?state=needs_review</c>: what the reconciler could not settle, with the reason.</summary>
public static class ConversionReview
{
    public sealed record Item(string Id, long CustomerId, long Points, decimal Amount, string Currency, string State, string Code,
        string? DiscountId, string? FailureCode, string? FailureReason, DateTimeOffset CreatedAt, DateTimeOffset? CompletedAt);

    private static readonly string[] States = ["pending", "coupon_created", "settling", "compensating", "completed", "failed", "needs_review"];

    public static RouteGroupBuilder MapConversionReview(this RouteGroupBuilder admin)
    {
        admin.MapGet("/conversions", ListAsync);
        return admin;
    }

    private static async Task<Results<Ok<IReadOnlyList<Item>>, ProblemHttpResult>> ListAsync(HttpContext http, NpgsqlDataSource db, string? state,
        int? limit, CancellationToken ct)
    {
        if (state is not null && !States.Contains(state)) return Problems.Validation("invalid_state", "Unknown state.", string.Join(", ", States));
        await using var conn = await db.OpenConnectionAsync(ct);
        IReadOnlyList<Item> items = (await conn.QueryAsync<Item>(new CommandDefinition("""
            SELECT id, customer_id, points, amount, currency, state, code, discount_id, failure_code, failure_reason, created_at, completed_at
            FROM conversions WHERE shop_domain = @shop AND (@state::text IS NULL OR state = @state)
            ORDER BY created_at DESC LIMIT @take
            """, new { shop = http.User.Shop(), state, take = Math.Clamp(limit ?? 50, 1, 200) }, cancellationToken: ct))).ToList();
        return TypedResults.Ok(items);
    }
}
