using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Db;
using Npgsql;

namespace Loyalty.Tests.Infrastructure.Db;

/// <summary>
/// The app's pools hand a session back without resetting it (<see cref="DatabaseOptions.ResetConnectionsOnClose"/>), so a session
/// advisory lock left on one would pass to the next user of the connection. <see cref="SessionLocks"/> releases what a holder took,
/// and a session whose release failed is never handed out again: its lock ends with it. Judged from another session, as another
/// instance would see the lock.
/// </summary>
public sealed class SessionLocksTests
{
    [Fact]
    public async Task A_returned_session_keeps_a_lock_it_did_not_release_and_one_released_is_free_for_another_session()
    {
        var (db, other) = await PoolsAsync();
        await using (db)
        await using (other)
        {
            // The pool does not reset: a lock left on a session handed back is still held when the session is next handed out.
            var (conn, pid) = await LockedSessionAsync(db);
            await conn.DisposeAsync();
            await using (var reused = await db.OpenConnectionAsync())
            {
                Assert.Equal(pid, await PidAsync(reused));
                Assert.False(await TakenElsewhereAsync(other, "work"));

                // Released, it is free for another session, and the session goes on without it.
                await SessionLocks.ReleaseAllAsync(db, reused);
                Assert.True(await TakenElsewhereAsync(other, "work"));
            }
            await using var again = await db.OpenConnectionAsync();
            Assert.Equal(pid, await PidAsync(again));
            Assert.Equal(0, await again.ExecuteScalarAsync<long>("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = @pid",
                new { pid }));
        }
    }

    [Fact]
    public async Task A_session_whose_release_failed_is_not_reused_so_its_lock_ends_with_it()
    {
        var (db, other) = await PoolsAsync();
        await using (db)
        await using (other)
        {
            var (conn, pid) = await LockedSessionAsync(db);
            await using (conn)
            {
                // The unlock cannot run: the session is in a failed transaction (any error that leaves the connection usable).
                await using var tx = await conn.BeginTransactionAsync();
                await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync("SELECT 1 / 0", transaction: tx));
                await Assert.ThrowsAsync<PostgresException>(() => SessionLocks.ReleaseAllAsync(db, conn));
            }

            await using var next = await db.OpenConnectionAsync();
            Assert.NotEqual(pid, await PidAsync(next));
            // The server frees the lock when the closed session's process has ended, a moment after the client hung up.
            await using var watch = await other.OpenConnectionAsync();
            await LoyaltyApp.WaitUntilAsync(async () => await watch.ExecuteScalarAsync<long>(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = @pid", new { pid }) == 0, "the failed session's process to end");
            Assert.True(await TakenElsewhereAsync(other, "work"), "the failed session's lock must go with it");
        }
    }

    /// <summary>The app's kind of pool (one connection, so a reuse is the same session) and a plain one for "another instance".</summary>
    private static async Task<(NpgsqlDataSource Db, NpgsqlDataSource Other)> PoolsAsync()
    {
        var connectionString = await TestDatabase.CreateAsync();
        var app = new NpgsqlConnectionStringBuilder(DbExtensions.WithSessionSettings(connectionString, new DatabaseOptions())) { MaxPoolSize = 1 };
        return (NpgsqlDataSource.Create(app.ConnectionString), NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(connectionString)
            { Pooling = false }.ConnectionString));
    }

    /// <summary>A connection from <paramref name="db"/>, its session's process id, and the lock "work" taken on it.</summary>
    private static async Task<(NpgsqlConnection Conn, long Pid)> LockedSessionAsync(NpgsqlDataSource db)
    {
        var conn = await db.OpenConnectionAsync();
        var pid = await PidAsync(conn);
        Assert.True(await SessionLocks.TryTakeAsync(db, conn, "work", CancellationToken.None));
        return (conn, pid);
    }

    private static Task<long> PidAsync(NpgsqlConnection conn) => conn.ExecuteScalarAsync<long>("SELECT pg_backend_pid()");

    /// <summary>Takes and at once gives back the lock on another session; false while someone else holds it.</summary>
    private static async Task<bool> TakenElsewhereAsync(NpgsqlDataSource other, string key)
    {
        await using var conn = await other.OpenConnectionAsync();
        return await conn.ExecuteScalarAsync<bool>(
            "SELECT pg_try_advisory_lock(hashtextextended(@key, 0)) AND pg_advisory_unlock(hashtextextended(@key, 0))", new { key });
    }
}
