namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>
/// The operator's view of the inbox: <c>GET /api/admin/webhooks?status=failed</c> lists deliveries with
/// their last error, <c>POST /api/admin/webhooks/{id}/retry</c> puts a parked one back in the queue.
/// </summary>
public static class WebhookDeliveries
{
    public sealed record Item(long Id, string WebhookId, string Topic, string Status, int Attempts, string? LastError,
        DateTimeOffset ReceivedAt, DateTimeOffset? ProcessedAt, DateTimeOffset NextAttemptAt);

    public sealed record Page(IReadOnlyList<Item> Items, long? NextBefore);

    private static readonly string[] Statuses = ["pending", "processing", "processed", "skipped", "failed"];

    public static RouteGroupBuilder MapWebhookDeliveries(this RouteGroupBuilder admin)
    {
        admin.MapGet("/webhooks", ListAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_status");
        admin.MapPost("/webhooks/{id:long}/retry", RetryAsync)
            .ProblemCodes(StatusCodes.Status404NotFound, "delivery_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "delivery_not_failed");
        return admin;
    }

    private static async Task<Results<Ok<Page>, ProblemHttpResult>> ListAsync(
        HttpContext http, NpgsqlDataSource db, string? status, long? before, int? limit, CancellationToken ct)
    {
        if (status is not null && !Statuses.Contains(status))
        {
            return Problems.Validation("invalid_status", "Unknown status.", $"Use one of: {string.Join(", ", Statuses)}.");
        }
        var take = Math.Clamp(limit ?? 50, 1, 200);
        await using var conn = await db.OpenConnectionAsync(ct);
        var items = (await conn.QueryAsync<Item>(new CommandDefinition("""
            SELECT id, webhook_id, topic, status, attempts, last_error, received_at, processed_at, next_attempt_at
            FROM webhook_deliveries
            WHERE shop_domain = @shop AND (@status::text IS NULL OR status = @status) AND (@before::bigint IS NULL OR id < @before)
            ORDER BY id DESC
            LIMIT @take
            """, new { shop = http.User.Shop(), status, before, take }, cancellationToken: ct))).ToList();
        return TypedResults.Ok(new Page(items, items.Count == take ? items[^1].Id : null));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RetryAsync(
        HttpContext http, NpgsqlDataSource db, WebhookSignal signal, long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var status = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
            "SELECT status FROM webhook_deliveries WHERE id = @id AND shop_domain = @shop", new { id, shop = http.User.Shop() },
            cancellationToken: ct));
        if (status is null) return Problems.NotFound("delivery_not_found", "No such webhook delivery for this shop.");
        if (status != "failed")
        {
            return Problems.Create(StatusCodes.Status409Conflict, "delivery_not_failed",
                $"Only failed deliveries can be retried; this one is {status}.");
        }
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
            WHERE id = @id AND status = 'failed'
            """, new { id }, cancellationToken: ct));
        signal.Notify();
        return TypedResults.NoContent();
    }
}
