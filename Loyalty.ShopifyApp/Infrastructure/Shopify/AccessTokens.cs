namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>We hold no usable token for the shop: a merchant must open the app (token exchange) or reinstall.</summary>
public sealed class ShopNotAuthorizedException(string shop, string reason)
    : Exception($"No usable Shopify access token for {shop}: {reason}")
{
    public string Shop { get; } = shop;
}

/// <summary>
/// The per-shop offline token: stored encrypted, handed out decrypted only to server-side Shopify calls,
/// refreshed before it expires and after Shopify answers 401. Refreshes of one shop are serialized by a
/// transaction-level advisory lock (one refresh at a time across all instances) and the new pair is
/// committed before anyone uses it.
/// </summary>
public sealed partial class AccessTokens(
    NpgsqlDataSource db,
    AccessTokenCache cache,
    ShopifyOAuthClient oauth,
    IDataProtectionProvider dataProtection,
    IOptions<ShopifyOptions> options,
    TimeProvider clock,
    ILogger<AccessTokens> logger)
{
    private readonly IDataProtector _protector = dataProtection.CreateProtector("Loyalty.ShopTokens.v1");

    private sealed record Row(
        string AccessTokenProtected,
        DateTimeOffset? AccessTokenExpiresAt,
        string? RefreshTokenProtected,
        DateTimeOffset? RefreshTokenExpiresAt);

    private const string SelectRow = """
        SELECT t.access_token_protected, t.access_token_expires_at, t.refresh_token_protected, t.refresh_token_expires_at
        FROM shop_tokens t JOIN shops s USING (shop_domain)
        WHERE t.shop_domain = @shop AND s.state = 'installed'
        """;

    /// <summary>True when the shop is installed and holds a token that can be used now or refreshed.</summary>
    public async Task<bool> HasUsableTokenAsync(string shop, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await HasUsableTokenAsync(conn, null, shop, ct);
    }

    public async Task<bool> HasUsableTokenAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, CancellationToken ct)
    {
        var row = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(SelectRow, new { shop }, tx, cancellationToken: ct));
        return row is not null && IsUsableOrRefreshable(row, clock.GetUtcNow());
    }

    /// <summary>The access token to call the Admin API with, refreshed first when it is about to expire.</summary>
    public async Task<string> GetAsync(string shop, CancellationToken ct)
    {
        if (cache.TryGet(shop, out var kept)) return kept;
        var readAt = cache.Version;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            var row = await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(SelectRow, new { shop }, cancellationToken: ct))
                ?? throw new ShopNotAuthorizedException(shop, "the shop has no stored token");
            if (!NeedsRefresh(row, clock.GetUtcNow()))
            {
                var token = _protector.Unprotect(row.AccessTokenProtected);
                cache.Keep(shop, token, row.AccessTokenExpiresAt, readAt);
                return token;
            }
        }
        return await RefreshAsync(shop, rejectedAccessToken: null, ct);
    }

    /// <summary>Shopify answered 401 to <paramref name="rejectedAccessToken"/>: refresh unless another caller already did.</summary>
    public Task<string> RefreshAfterUnauthorizedAsync(string shop, string rejectedAccessToken, CancellationToken ct) =>
        RefreshAsync(shop, rejectedAccessToken, ct);

    /// <summary>
    /// The token-refresh job's refresh ahead of expiry: refreshes the shop's token when it expires before <paramref name="expiringBefore"/>,
    /// on the same locked path as a call's refresh, so a token another caller (or instance) refreshed meanwhile is left alone. False when
    /// nothing needed doing: the token lasts past then, never expires, or the shop holds none (uninstalled or forgotten since).
    /// A refused refresh forgets the token and throws <see cref="ShopNotAuthorizedException"/>, as on use.
    /// </summary>
    public async Task<bool> RefreshIfExpiringBeforeAsync(string shop, DateTimeOffset expiringBefore, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var row = await LockedRowAsync(conn, tx, shop, ct);
        if (row is null || !(row.AccessTokenExpiresAt < expiringBefore || NeedsRefresh(row, clock.GetUtcNow()))) return false;
        await RefreshLockedAsync(conn, tx, shop, row, "ahead of expiry", ct);
        return true;
    }

    /// <summary>Stores a freshly granted token pair inside the caller's transaction.</summary>
    public async Task StoreAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, OAuthTokenResponse token, string obtainedVia,
        CancellationToken ct)
    {
        cache.Drop(shop);
        var now = clock.GetUtcNow();
        if (token.ExpiresIn is null)
        {
            LogNonExpiringToken(shop);
        }
        await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO shop_tokens (shop_domain, access_token_protected, access_token_expires_at,
                                     refresh_token_protected, refresh_token_expires_at, scopes, obtained_via, updated_at)
            VALUES (@shop, @access, @accessExpires, @refresh, @refreshExpires, @scopes, @obtainedVia, @now)
            ON CONFLICT (shop_domain) DO UPDATE SET
                access_token_protected = excluded.access_token_protected,
                access_token_expires_at = excluded.access_token_expires_at,
                refresh_token_protected = excluded.refresh_token_protected,
                refresh_token_expires_at = excluded.refresh_token_expires_at,
                scopes = excluded.scopes,
                obtained_via = excluded.obtained_via,
                updated_at = excluded.updated_at
            """, new
        {
            shop,
            access = _protector.Protect(token.AccessToken),
            accessExpires = token.ExpiresIn is { } e ? now.AddSeconds(e) : (DateTimeOffset?)null,
            refresh = token.RefreshToken is { Length: > 0 } r ? _protector.Protect(r) : null,
            refreshExpires = token.RefreshToken is { Length: > 0 }
                ? now.AddSeconds(token.RefreshTokenExpiresIn ?? 90 * 24 * 3600)
                : (DateTimeOffset?)null,
            scopes = token.Scope ?? "",
            obtainedVia,
            now,
        }, tx, cancellationToken: ct));
    }

    /// <summary>Takes the shop's token lock for the rest of <paramref name="tx"/>. Used by refresh and by install.</summary>
    public static Task LockShopAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended('shop-token:' || @shop, 0))",
            new { shop }, tx, cancellationToken: ct));

    private async Task<string> RefreshAsync(string shop, string? rejectedAccessToken, CancellationToken ct)
    {
        cache.Drop(shop); // the token kept may be the one rejected
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var row = await LockedRowAsync(conn, tx, shop, ct) ?? throw new ShopNotAuthorizedException(shop, "the shop has no stored token");
        var current = _protector.Unprotect(row.AccessTokenProtected);

        // Another caller refreshed while we waited for the lock: use its token.
        var rejectedIsCurrent = rejectedAccessToken is not null && rejectedAccessToken == current;
        if (!rejectedIsCurrent && !NeedsRefresh(row, clock.GetUtcNow())) return current;
        return await RefreshLockedAsync(conn, tx, shop, row, rejectedAccessToken is null ? "expiring soon" : "rejected with 401", ct);
    }

    /// <summary>Takes the shop's token lock in <paramref name="tx"/>, then reads its token: what every refresh decides on.</summary>
    private static async Task<Row?> LockedRowAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct)
    {
        await LockShopAsync(conn, tx, shop, ct);
        return await conn.QuerySingleOrDefaultAsync<Row>(new CommandDefinition(SelectRow, new { shop }, tx, cancellationToken: ct));
    }

    /// <summary>Refreshes <paramref name="row"/> under the lock <paramref name="tx"/> holds, and commits the new pair (or forgets it).</summary>
    private async Task<string> RefreshLockedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, Row row, string reason,
        CancellationToken ct)
    {
        if (row.RefreshTokenProtected is null || row.RefreshTokenExpiresAt <= clock.GetUtcNow())
        {
            await ForgetAsync(conn, tx, shop, ct);
            await tx.CommitAsync(ct);
            cache.Drop(shop);
            LogNeedsReauthorization(shop, row.RefreshTokenProtected is null ? "no refresh token" : "refresh token expired");
            throw new ShopNotAuthorizedException(shop, "the token cannot be refreshed; the merchant must open the app again");
        }

        OAuthTokenResponse refreshed;
        try
        {
            refreshed = await oauth.RefreshAsync(shop, _protector.Unprotect(row.RefreshTokenProtected), ct);
        }
        catch (ShopifyGrantRejectedException e) when (e.Error == InvalidGrant)
        {
            await ForgetAsync(conn, tx, shop, ct);
            await tx.CommitAsync(ct);
            cache.Drop(shop);
            LogNeedsReauthorization(shop, $"refresh rejected ({e.Error})");
            throw new ShopNotAuthorizedException(shop, "Shopify rejected the refresh token; the merchant must open the app again");
        }
        catch (ShopifyGrantRejectedException e)
        {
            // Not the refresh token's fault (invalid_client: a wrong or rotated API secret; invalid_request; a proxy's 400 without a
            // code): every shop's refresh would be refused alike, and forgetting would lock each merchant out until they open the app.
            // The token is kept; the refresh is tried again as after an outage.
            LogRefreshRefused(shop, (int)e.Status, e.Error ?? "no error code");
            throw new ShopifyUnavailableException($"Shopify refused the refresh of {shop}'s token with {(int)e.Status} "
                                                  + $"({e.Error ?? "no error code"}); the token is kept", e);
        }

        await StoreAsync(conn, tx, shop, refreshed, "refresh", ct);
        await tx.CommitAsync(ct);
        cache.Drop(shop); // and again once the new pair is committed: a read meanwhile may have kept the old token
        LogRefreshed(shop, reason);
        return refreshed.AccessToken;
    }

    /// <summary>OAuth's answer for a refresh token that is invalid, expired, revoked or already used: the only one that forgets the token.</summary>
    private const string InvalidGrant = "invalid_grant";

    private static Task ForgetAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("DELETE FROM shop_tokens WHERE shop_domain = @shop", new { shop }, tx, cancellationToken: ct));

    private bool NeedsRefresh(Row row, DateTimeOffset now) => NeedsRefresh(row.AccessTokenExpiresAt, now, options.Value);

    internal static bool NeedsRefresh(DateTimeOffset? expiresAt, DateTimeOffset now, ShopifyOptions options) =>
        expiresAt is { } expires && expires - now < TimeSpan.FromSeconds(options.RefreshBeforeExpirySeconds);

    private static bool IsUsableOrRefreshable(Row row, DateTimeOffset now) =>
        row.AccessTokenExpiresAt is null || row.AccessTokenExpiresAt > now || (row.RefreshTokenExpiresAt is { } r && r > now);

    [LoggerMessage(Level = LogLevel.Information, Message = "Refreshed the access token of {Shop} ({Reason})")]
    private partial void LogRefreshed(string shop, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Forgot the token of {Shop}: {Reason}; the next session token will exchange a new one")]
    private partial void LogNeedsReauthorization(string shop, string reason);

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Shopify refused to refresh the token of {Shop} with {Status} ({Error}), not for the refresh token itself; the token is "
                  + "kept and the refresh tried again. Check Shopify:ApiKey and ApiSecret")]
    private partial void LogRefreshRefused(string shop, int status, string error);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Shopify granted {Shop} a non-expiring offline token; expiring tokens are required of public apps")]
    private partial void LogNonExpiringToken(string shop);
}
