namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>
/// The app's <see cref="IPosCircuitBoard"/>: POS circuit breaks shared by every instance in <c>pos_circuits</c> (migration 0035), one
/// row per shop and connection fingerprint (<see cref="ShopSettings.PosConnection"/> names it). Break times are the database's
/// clock, so instances whose clocks differ agree on when a break ends. <see cref="PosPipelines"/> caches what it reads and logs
/// what fails here; no failure of this board fails a POS call.
/// </summary>
public sealed class SharedPosCircuits(NpgsqlDataSource db) : IPosCircuitBoard
{
    public async Task<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var seconds = await conn.ExecuteScalarAsync<double?>(new CommandDefinition("""
            SELECT extract(epoch FROM open_until - clock_timestamp())::float8 FROM pos_circuits
            WHERE shop_domain = @Shop AND connection = @Connection AND open_until > clock_timestamp()
            """, new { key.Shop, key.Connection }, cancellationToken: ct));
        return seconds is > 0 and var s ? TimeSpan.FromSeconds(s) : null;
    }

    /// <summary>
    /// A break already posted by another instance that ends later is kept: the latest end holds. The shop's breaks that ended over an
    /// hour ago go: no probe deleted them (its instance stopped, or its probe had no answer), and no save of the settings since.
    /// </summary>
    public async Task OpenedAsync(PosCircuitKey key, TimeSpan breakDuration, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("""
            DELETE FROM pos_circuits WHERE shop_domain = @Shop AND open_until < clock_timestamp() - interval '1 hour';
            INSERT INTO pos_circuits AS c (shop_domain, connection, opened_at, open_until)
            VALUES (@Shop, @Connection, clock_timestamp(), clock_timestamp() + make_interval(secs => @seconds))
            ON CONFLICT (shop_domain, connection) DO UPDATE
                SET opened_at = excluded.opened_at, open_until = greatest(c.open_until, excluded.open_until)
            """, new { key.Shop, key.Connection, seconds = breakDuration.TotalSeconds }, cancellationToken: ct));
    }

    public async Task ClosedAsync(PosCircuitKey key, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition("DELETE FROM pos_circuits WHERE shop_domain = @Shop AND connection = @Connection",
            new { key.Shop, key.Connection }, cancellationToken: ct));
    }

    /// <summary>
    /// The merchant saved another POS URL or key: the shop's breaks go with the save's transaction. The new connection's fingerprint
    /// differs already, so none of them could hold it back; this keeps the table to breaks that can still matter.
    /// </summary>
    public static Task ForgetShopAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct) =>
        conn.ExecuteAsync(new CommandDefinition("DELETE FROM pos_circuits WHERE shop_domain = @shop", new { shop }, tx,
            cancellationToken: ct));
}
