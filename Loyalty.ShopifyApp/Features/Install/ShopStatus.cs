namespace Loyalty.ShopifyApp.Features.Install;

/// <summary><c>GET /api/admin/shop</c>: the authenticated shop's install state. Token values never leave the server.</summary>
public static class ShopStatus
{
    public sealed record Response(
        string Shop,
        string State,
        DateTimeOffset InstalledAt,
        string? Name,
        string? Currency,
        string? IanaTimezone,
        string? Scopes,
        DateTimeOffset? AccessTokenExpiresAt,
        DateTimeOffset? RefreshTokenExpiresAt);

    public static RouteGroupBuilder MapShopStatus(this RouteGroupBuilder admin)
    {
        admin.MapGet("/shop", GetAsync);
        return admin;
    }

    private static async Task<Response> GetAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        // The admin filter installed the shop before we got here, so the row exists.
        return await conn.QuerySingleAsync<Response>(new CommandDefinition("""
            SELECT s.shop_domain AS shop, s.state, s.installed_at, s.shop_name AS name, s.currency, s.iana_timezone,
                   t.scopes, t.access_token_expires_at, t.refresh_token_expires_at
            FROM shops s LEFT JOIN shop_tokens t USING (shop_domain)
            WHERE s.shop_domain = @shop
            """, new { shop = http.User.Shop() }, cancellationToken: ct));
    }
}
