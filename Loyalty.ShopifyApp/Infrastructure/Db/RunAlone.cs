namespace Loyalty.ShopifyApp.Infrastructure.Db;

/// <summary>
/// One run at a time on every instance: a session advisory lock on a connection of its own, held for the whole run, so a dead
/// instance's lock goes with its connection. A run started while another holds the lock does nothing and answers null.
/// </summary>
public static class RunAlone
{
    public static async Task<T?> TryAsync<T>(NpgsqlDataSource db, string key, Func<Task<T>> run, CancellationToken ct) where T : struct
    {
        await using var lockConnection = await db.OpenConnectionAsync(ct);
        if (!await SessionLocks.TryTakeAsync(db, lockConnection, key, ct)) return null;
        try
        {
            return await run();
        }
        finally
        {
            await SessionLocks.ReleaseAllAsync(db, lockConnection);
        }
    }
}
