namespace Loyalty.ShopifyApp.Features.Install;

/// <summary>
/// Turns a verified grant into an installed shop: Shopify managed install + token exchange (the first
/// session token for a shop we hold no usable token for), or the authorization code grant. Both run under
/// the shop's token lock, so concurrent first requests exchange once, and store the token pair encrypted.
/// A reinstall starts from a clean token state because uninstall deleted the old one.
/// </summary>
public sealed partial class ShopInstallation(
    NpgsqlDataSource db,
    AccessTokens tokens,
    AccessTokenCache kept,
    ShopifyOAuthClient oauth,
    ShopifyGraphQLClient graphql,
    TimeProvider clock,
    ILogger<ShopInstallation> logger)
{
    /// <summary>Exchanges <paramref name="sessionToken"/> for an expiring offline token unless the shop already has a usable one.</summary>
    public async Task EnsureInstalledAsync(string shop, string sessionToken, CancellationToken ct)
    {
        if (await tokens.HasUsableTokenAsync(shop, ct)) return;

        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            await AccessTokens.LockShopAsync(conn, tx, shop, ct);
            if (await tokens.HasUsableTokenAsync(conn, tx, shop, ct)) return; // another request installed it meanwhile

            var token = await oauth.ExchangeSessionTokenAsync(shop, sessionToken, ct);
            await MarkInstalledAsync(conn, tx, shop, ct);
            await tokens.StoreAsync(conn, tx, shop, token, "token_exchange", ct);
            await tx.CommitAsync(ct);
            kept.Drop(shop); // a read while the grant was being stored may have kept the token it replaced
            LogInstalled(shop, "token exchange", token.Scope ?? "");
        }
        await RefreshShopDetailsAsync(shop, ct);
    }

    /// <summary>Completes the authorization code grant once state, HMAC, shop and timestamp were verified.</summary>
    public async Task CompleteAuthorizationCodeAsync(string shop, string code, CancellationToken ct)
    {
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            await AccessTokens.LockShopAsync(conn, tx, shop, ct);
            var token = await oauth.ExchangeAuthorizationCodeAsync(shop, code, ct);
            await MarkInstalledAsync(conn, tx, shop, ct);
            await tokens.StoreAsync(conn, tx, shop, token, "authorization_code", ct);
            await tx.CommitAsync(ct);
            kept.Drop(shop); // a read while the grant was being stored may have kept the token it replaced
            LogInstalled(shop, "authorization code", token.Scope ?? "");
        }
        await RefreshShopDetailsAsync(shop, ct);
    }

    private Task MarkInstalledAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO shops (shop_domain, state, installed_at, updated_at) VALUES (@shop, 'installed', @now, @now)
            ON CONFLICT (shop_domain) DO UPDATE SET
                state = 'installed',
                installed_at = CASE WHEN shops.state = 'uninstalled' THEN excluded.installed_at ELSE shops.installed_at END,
                uninstalled_at = NULL,
                updated_at = excluded.updated_at
            """, new { shop, now = clock.GetUtcNow() }, tx, cancellationToken: ct));

    /// <summary>Name, currency and time zone (coupons are in shop currency; daily limits follow the shop's day). Best effort.</summary>
    private async Task RefreshShopDetailsAsync(string shop, CancellationToken ct)
    {
        try
        {
            var data = await graphql.QueryAsync(shop, "query ShopDetails { shop { name currencyCode ianaTimezone } }", null, ct);
            var s = data.GetProperty("shop");
            await using var conn = await db.OpenConnectionAsync(ct);
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE shops SET shop_name = @name, currency = @currency, iana_timezone = @timezone, updated_at = now()
                WHERE shop_domain = @shop
                """, new
            {
                shop,
                name = s.GetProperty("name").GetString(),
                currency = s.GetProperty("currencyCode").GetString(),
                timezone = s.GetProperty("ianaTimezone").GetString(),
            }, cancellationToken: ct));
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException
                                      or KeyNotFoundException or InvalidOperationException)
        {
            LogDetailsFailed(e, shop);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Installed {Shop} via {Flow} with scopes {Scopes}")]
    private partial void LogInstalled(string shop, string flow, string scopes);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not read the shop details of {Shop}; they stay empty until the next install")]
    private partial void LogDetailsFailed(Exception exception, string shop);
}
