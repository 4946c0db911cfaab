using Loyalty.ShopifyApp.Infrastructure.Db;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// One run at a time per campaign, on any instance: a session advisory lock held on a connection of its own for as
/// long as the run lasts. The generation job, a merchant's request that creates or retries a campaign, and giving a
/// campaign up all take it, so none of them sends to Shopify while another is deciding what Shopify has.
/// </summary>
public sealed class CampaignLock : IAsyncDisposable
{
    private readonly NpgsqlDataSource _db;
    private readonly NpgsqlConnection _connection;

    private CampaignLock(NpgsqlDataSource db, NpgsqlConnection connection) => (_db, _connection) = (db, connection);

    /// <summary>The lock, or null when another run holds it.</summary>
    public static async Task<CampaignLock?> TryTakeAsync(NpgsqlDataSource db, long campaignId, CancellationToken ct)
    {
        var connection = await db.OpenConnectionAsync(ct);
        try
        {
            if (await SessionLocks.TryTakeAsync(db, connection, $"campaign:{campaignId}", ct)) return new CampaignLock(db, connection);
        }
        catch
        {
            await connection.DisposeAsync();
            throw;
        }
        await connection.DisposeAsync();
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await SessionLocks.ReleaseAllAsync(_db, _connection);
        }
        finally
        {
            await _connection.DisposeAsync();
        }
    }
}
