namespace Loyalty.ShopifyApp.Infrastructure.Db;

/// <summary>
/// Session advisory locks, the only session state the app keeps on a pooled connection. The pools do not reset a connection
/// handed back (<see cref="DatabaseOptions.ResetConnectionsOnClose"/>), so nothing else would release a lock left behind: the
/// next user of that session would hold it unknowingly and every other instance would find the work "under way" for as long as
/// the connection lives. Each holder takes its lock with <see cref="TryTakeAsync"/> on a connection of its own and gives it up
/// with <see cref="ReleaseAllAsync"/>; a session whose release failed is never handed out again.
/// </summary>
public static class SessionLocks
{
    /// <summary>
    /// <c>pg_try_advisory_lock</c> on <paramref name="key"/>. A call that fails or is cancelled may have taken the lock on the server
    /// before its answer was lost, so it releases the session's locks before it throws.
    /// </summary>
    public static async Task<bool> TryTakeAsync(NpgsqlDataSource db, NpgsqlConnection conn, string key, CancellationToken ct)
    {
        try
        {
            return await conn.ExecuteScalarAsync<bool>(new CommandDefinition("SELECT pg_try_advisory_lock(hashtextextended(@key, 0))",
                new { key }, cancellationToken: ct));
        }
        catch
        {
            await ReleaseAllAsync(db, conn, rethrow: false);
            throw;
        }
    }

    /// <summary>
    /// <c>pg_advisory_unlock_all()</c> on the connection's session. A session that broke (Npgsql closes it) took its locks with it.
    /// One whose release failed otherwise is taken out of <paramref name="db"/>'s pool (<see cref="NpgsqlDataSource.Clear"/>: it is
    /// closed when handed back, not reused, and so are the pool's idle connections), so its locks end with it. The failure is then
    /// thrown, for the caller's log, unless <paramref name="rethrow"/> is false (the caller is already throwing its own).
    /// </summary>
    public static async Task ReleaseAllAsync(NpgsqlDataSource db, NpgsqlConnection conn, bool rethrow = true)
    {
        if (conn.State == System.Data.ConnectionState.Closed) return;
        try
        {
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_unlock_all()", cancellationToken: CancellationToken.None));
        }
        catch (Exception)
        {
            if (conn.State != System.Data.ConnectionState.Closed) db.Clear(); // a session that broke has no locks left to end
            if (rethrow) throw;
        }
    }
}
