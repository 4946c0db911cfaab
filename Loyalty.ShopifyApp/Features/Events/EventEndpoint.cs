using Hangfire;

namespace Loyalty.ShopifyApp.Features.Events;

/// <summary>
/// <c>PUT/GET/DELETE /api/admin/event-endpoint</c>: where the shop's events go (the secret is write-only), and
/// <c>GET /api/admin/event-endpoint/events?state=failed</c> with <c>POST …/events/{id}/retry</c> for failures.
/// </summary>
public static class EventEndpoint
{
    public sealed record EndpointRequest(string? Url, string? Secret);

    public sealed record EndpointView(string? Url, bool SecretSet);

    public sealed record EventItem(string Id, string Type, string State, int Attempts, int? LastStatus, string? LastError, DateTimeOffset CreatedAt,
        DateTimeOffset? DeliveredAt);

    public static RouteGroupBuilder MapEventEndpoint(this RouteGroupBuilder admin)
    {
        admin.MapGet("/event-endpoint", GetAsync);
        admin.MapPut("/event-endpoint", PutAsync).ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_event_endpoint")
            .RequestExample(new EndpointRequest("https://erp.example.com/loyalty-events", "whsec_3f9a1c"))
            .ResponseExample(StatusCodes.Status200OK, new EndpointView("https://erp.example.com/loyalty-events", SecretSet: true));
        admin.MapDelete("/event-endpoint", DeleteAsync);
        admin.MapGet("/event-endpoint/events", EventsAsync);
        admin.MapPost("/event-endpoint/events/{id}/retry", RetryAsync).ProblemCodes(StatusCodes.Status404NotFound, "event_not_found");
        return admin;
    }

    private static async Task<EndpointView> GetAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var url = await conn.ExecuteScalarAsync<string?>(new CommandDefinition("SELECT url FROM event_endpoints WHERE shop_domain = @shop",
            new { shop = http.User.Shop() }, cancellationToken: ct));
        return new EndpointView(url, url is not null);
    }

    private static async Task<Results<Ok<EndpointView>, ProblemHttpResult>> PutAsync(HttpContext http, EndpointRequest r, NpgsqlDataSource db,
        IDataProtectionProvider dataProtection, IOptions<EventOptions> options, IOptions<NetworkGuardOptions> guard, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var insecureAllowed = options.Value.AllowInsecureEndpoints;
        if (StoredText.HasNul(r.Url)) errors["url"] = [StoredText.NulRule];
        else if (NetworkGuard.UrlError(r.Url ?? "", allowHttp: insecureAllowed, allowPrivateNetworks: insecureAllowed,
            guard.Value) is { } urlError) errors["url"] = [urlError];
        if (r.Secret is not { Length: >= 16 and <= 200 }) errors["secret"] = ["A secret of 16-200 characters, used to sign every event."];
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_event_endpoint", "The event endpoint is not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO event_endpoints (shop_domain, url, secret_protected) VALUES (@shop, @Url, @secret)
            ON CONFLICT (shop_domain) DO UPDATE SET url = excluded.url, secret_protected = excluded.secret_protected, updated_at = now()
            """, new { shop = http.User.Shop(), r.Url, secret = OutgoingEvents.SecretProtector(dataProtection).Protect(r.Secret!) },
                cancellationToken: ct));
        return TypedResults.Ok(new EndpointView(r.Url, true));
    }

    private static async Task<NoContent> DeleteAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("DELETE FROM event_endpoints WHERE shop_domain = @shop", new { shop = http.User.Shop() },
            cancellationToken: ct));
        return TypedResults.NoContent();
    }

    private static async Task<IReadOnlyList<EventItem>> EventsAsync(HttpContext http, NpgsqlDataSource db, string? state, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return (await conn.QueryAsync<EventItem>(new CommandDefinition("""
            SELECT id, type, state, attempts, last_status, last_error, created_at, delivered_at FROM outgoing_events
            WHERE shop_domain = @shop AND (@state::text IS NULL OR state = @state) ORDER BY created_at DESC LIMIT 200
            """, new { shop = http.User.Shop(), state }, cancellationToken: ct))).ToList();
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RetryAsync(HttpContext http, string id, NpgsqlDataSource db,
        IBackgroundJobClient jobs,
        CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var updated = await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE outgoing_events SET state = 'pending', attempts = 0, next_attempt_at = now() WHERE id = @id AND shop_domain = @shop AND state =
                'failed'
            """, new { id, shop = http.User.Shop() }, cancellationToken: ct));
        if (updated == 0) return Problems.NotFound("event_not_found", "No failed event with that id for this shop.");
        jobs.Enqueue<OutgoingEvents>(e => e.DeliverDueAsync(CancellationToken.None));
        return TypedResults.NoContent();
    }
}
