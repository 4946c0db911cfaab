using Hangfire;
using Loyalty.ShopifyApp.Features.Conversion;

namespace Loyalty.ShopifyApp.Features.Donations;

/// <summary>Settles POS donations whose deduction outcome was unknown, by reference, once no request can still be in flight.</summary>
public sealed partial class DonationSettler(NpgsqlDataSource db, PosClient pos, IDataProtectionProvider dataProtection,
    IOptions<ConversionOptions> options, ILogger<DonationSettler> logger)
{
    public const string RecurringId = "donation-settler";

    [AutomaticRetry(Attempts = 0)]
    public async Task<int> RunAsync(CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var pending = (await conn.QueryAsync<(string Id, string Shop, long Customer, long Points, string Cause)>(new CommandDefinition("""
            SELECT id, shop_domain, customer_id, points, cause FROM donations
            WHERE state = 'pending' AND customer_id IS NOT NULL AND created_at < now() - make_interval(secs => @after)
              AND coalesce(next_settle_at, created_at) <= now()
            ORDER BY coalesce(next_settle_at, created_at) LIMIT 100
            """, new { after = (double)options.Value.SettleAfterSeconds }, cancellationToken: ct))).ToList();
        var settled = 0;
        foreach (var d in pending)
        {
            try
            {
                if (await SettleAsync(conn, d.Id, d.Shop, d.Customer, d.Points, d.Cause, ct))
                {
                    settled++;
                    continue;
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested && e is not OutOfMemoryException)
            {
                // One donation the settler cannot work on (its shop's POS key unreadable, say) must not stop the rest.
                LogSettleFailed(e, d.Id, d.Shop);
            }
            // Not settled: it stays pending and waits its turn behind the others, so a run's batch is never all such donations.
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE donations SET next_settle_at = now() + make_interval(secs => @delay) WHERE id = @id AND state = 'pending'
                """, new { id = d.Id, delay = (double)options.Value.RetryDelaySeconds }, cancellationToken: ct));
        }
        return settled;
    }

    private async Task<bool> SettleAsync(NpgsqlConnection conn, string id, string shop, long customer, long points, string cause,
        CancellationToken ct)
    {
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        if (settings.PosConnection(shop, dataProtection) is not { } connection) return false;
        switch (await pos.FindTransactionAsync(connection, id, ct))
        {
            case PosLookup.Found:
                await Donations.CompleteFromPosAsync(conn, shop, customer, id, points, cause, null, ct); // settled later: dated when written
                LogSettled(id, "completed");
                return true;
            case PosLookup.NotFound:
                await conn.ExecuteAsync(new CommandDefinition(
                    "UPDATE donations SET state = 'failed', failure_code = 'pos_unavailable' WHERE id = @id AND state = 'pending'", new { id },
                    cancellationToken: ct));
                LogSettled(id, "failed (the POS never took the points)");
                return true;
            default:
                return false; // the POS cannot tell yet: the next run asks again
        }
    }

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Donation {DonationId} of {Shop} could not be settled in this run; it stays pending and is tried again later")]
    private partial void LogSettleFailed(Exception error, string donationId, string shop);

    [LoggerMessage(Level = LogLevel.Information, Message = "Donation {DonationId} settled: {Outcome}")]
    private partial void LogSettled(string donationId, string outcome);
}
