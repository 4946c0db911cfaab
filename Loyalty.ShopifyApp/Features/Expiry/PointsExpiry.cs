using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.PosSync;

namespace Loyalty.ShopifyApp.Features.Expiry;

/// <summary>
/// Points that expire under the shop's <see cref="ExpiryModes"/>: a ledger row <c>expire:{lot}</c> per lot whose time has come (under
/// inactivity, every lot the customer holds once the period since their last activity is over), sent to the POS like any change in
/// POS mode, and a
/// <c>points.expired</c> event. Expired by this recurring job and by a customer's or merchant's read or spend
/// (<see cref="ExpireDueForCustomerAsync"/>), so no one can spend a point after it expired. The balance row's lock and the unique
/// references make every path expire a lot once.
/// </summary>
public sealed partial class PointsExpiry(NpgsqlDataSource db, PosSyncTrigger posSync, ProgramClock clock, IOptions<ExpiryOptions> options,
    ILogger<PointsExpiry> logger)
{
    public const string RecurringId = "points-expiry";

    /// <summary>Expires what is due of the customer's points; the caller holds the balance-source lock (shared) in <paramref name="tx"/>.</summary>
    /// <returns>The points expired now (0 when nothing was due).</returns>
    public static async Task<long> ExpireLockedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, long customerId,
        ShopSettings settings, DateTimeOffset now, CancellationToken ct)
    {
        if (settings.ExpiryMode == ExpiryModes.Never) return 0;
        // The balance row's lock serialises every path that expires (or spends) this customer's points: what a lot still holds is
        // computed under it, so two paths never take the same points.
        var balance = await conn.QuerySingleOrDefaultAsync<long?>(new CommandDefinition(
            "SELECT balance FROM point_balances WHERE shop_domain = @shop AND customer_id = @customerId FOR UPDATE",
            new { shop, customerId }, tx, cancellationToken: ct)) ?? 0;
        balance -= await HeldLots.SpentInFlightAsync(conn, tx, shop, customerId, ct);
        if (balance <= 0) return 0;

        var held = await HeldLots.ForCustomerAsync(conn, tx, shop, customerId, balance, settings, ct);
        // Under inactivity every lot the customer holds expires once the period since their last activity is over.
        var inactive = settings.ExpiryMode == ExpiryModes.Inactivity
            && await HeldLots.LastActivityEndsAsync(conn, tx, shop, customerId, settings, ct) <= now;
        var due = (settings.ExpiryMode == ExpiryModes.Earned || inactive ? held : []).TakeWhile(l => inactive || l.ExpiresAt <= now).ToList();
        if (settings.PosMode && due.Count > 0)
        {
            // Only a lot the POS received is the POS's to take back: not one whose addition it refused or skipped, nor one earned
            // before the shop's balance moved to the POS (never sent). One on its way is left for a later run.
            var atPos = (await conn.QueryAsync<long>(new CommandDefinition($"""
                SELECT transaction_id FROM pos_outbox WHERE shop_domain = @shop AND transaction_id = ANY(@ids)
                  AND state = '{PosOutboxState.Delivered}'
                """, new { shop, ids = due.Select(l => l.LotId).ToArray() }, tx, cancellationToken: ct))).ToHashSet();
            due = [.. due.Where(l => atPos.Contains(l.LotId))];
        }
        if (due.Count == 0) return 0;

        // Each expiry row names its lot; a lot can expire again only if points came back to it (a reversal of what spent it).
        var earlier = (await conn.QueryAsync<(long Lot, int Count)>(new CommandDefinition("""
            SELECT expires_lot, count(*)::int FROM point_transactions WHERE shop_domain = @shop AND expires_lot = ANY(@ids) GROUP BY 1
            """, new { shop, ids = due.Select(l => l.LotId).ToArray() }, tx, cancellationToken: ct))).ToDictionary(x => x.Lot, x => x.Count);
        var months = settings.ExpiryMonths;
        var rows = new List<object>();
        foreach (var lot in due)
        {
            var why = inactive ? $"after {months} months without activity" : $"after {months} months";
            var posted = await Ledger.PostAsync(conn, tx, new PointsEntry(shop, customerId, -lot.Points, Ledger.Expiry,
                $"expire:{lot.LotId}:{earlier.GetValueOrDefault(lot.LotId) + 1}",
                $"{lot.Points} points earned on {lot.EarnedAt.UtcDateTime:yyyy-MM-dd} expired {why}", "system", ExpiresLot: lot.LotId),
                new Posting(QueueForPos: settings.PosMode), ct);
            rows.Add(new { transactionId = posted.TransactionId, lotTransactionId = lot.LotId, points = lot.Points, earnedAt = lot.EarnedAt });
        }
        var expired = due.Sum(l => l.Points);
        await Events.OutgoingEvents.EmitAsync(conn, tx, shop, "points.expired",
            new { customerId, points = expired, mode = settings.ExpiryMode, months, lots = rows }, ct);
        return expired;
    }

    /// <summary>
    /// Expires whatever of this customer's is due, in one short transaction: run before their balance is shown or spent. Best effort
    /// only where nothing is lost by it: if it would have to wait out other work on the same customer it gives way, and the job expires
    /// the points (a spend meanwhile takes the oldest points first, the same ones that were due).
    /// </summary>
    /// <param name="notifyPos">False when the caller reads the POS balance next and wakes the POS sync itself after, so a delivery of
    /// the expiry cannot land between its read of the POS balance and its count of what is still owed.</param>
    /// <param name="read">The shop's settings as the caller just read them, for whether points expire at all; null: read here.</param>
    public async Task<long> ExpireDueForCustomerAsync(NpgsqlConnection conn, string shop, long customerId, bool notifyPos, ShopSettings? read,
        CancellationToken ct)
    {
        if ((read ?? await ShopSettings.LoadAsync(conn, null, shop, ct)).ExpiryMode == ExpiryModes.Never) return 0;
        long expired;
        ShopSettings settings;
        try
        {
            await using var tx = await conn.BeginTransactionAsync(ct);
            await conn.ExecuteAsync(new CommandDefinition($"SET LOCAL lock_timeout = {options.Value.ReadLockTimeoutMs}", transaction: tx,
                cancellationToken: ct));
            settings = await ShopSettings.LoadUnderBalanceSourceAsync(conn, tx, shop, ct);
            expired = await ExpireLockedAsync(conn, tx, shop, customerId, settings, clock.Now, ct);
            await tx.CommitAsync(ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogReadExpiryFailed(ex, shop, customerId);
            return 0;
        }
        if (expired > 0)
        {
            LogExpired(shop, customerId, expired);
            if (settings.PosMode && notifyPos) posSync.Notify();
        }
        return expired;
    }

    /// <summary>
    /// The recurring run: every customer of a shop whose points expire with something due, in order, each in a transaction of its
    /// own; one that fails holds back no other (the next run retries it).
    /// </summary>
    public async Task<int> ExpireDueAsync(CancellationToken ct)
    {
        var now = clock.Now;
        var (customers, points, notify) = (0, 0L, false);
        await using var conn = await db.OpenConnectionAsync(ct);
        await foreach (var (shop, customer) in HeldLots.CandidatesAsync(conn, DueCustomers, now, options.Value.BatchSize, ct))
        {
            if (customers >= options.Value.MaxPerRun) break;
            try
            {
                await using var tx = await conn.BeginTransactionAsync(ct);
                var settings = await ShopSettings.LoadUnderBalanceSourceAsync(conn, tx, shop, ct);
                var expired = await ExpireLockedAsync(conn, tx, shop, customer, settings, now, ct);
                await tx.CommitAsync(ct);
                // Only customers who expired something count against the run's stop: one whose due lots must wait (a spend in flight,
                // a lot not at the POS) is visited again each run and holds back no one after it.
                if (expired > 0) (customers, points, notify) = (customers + 1, points + expired, notify || settings.PosMode);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogNotExpired(ex, shop, customer);
            }
        }
        if (notify) posSync.Notify();
        if (points > 0) LogExpiredRun(customers, points);
        return customers;
    }

    /// <summary>Customers with something due now (see <see cref="HeldLots.DueBy"/>).</summary>
    private static readonly string DueCustomers = HeldLots.DueBy("@now", "true");

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Could not expire the due points of customer {CustomerId} of {Shop} on their read; the job retries")]
    private partial void LogReadExpiryFailed(Exception ex, string shop, long customerId);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not expire the due points of customer {CustomerId} of {Shop}; the next run retries")]
    private partial void LogNotExpired(Exception ex, string shop, long customerId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Expired {Points} points of customer {CustomerId} of {Shop} on their read")]
    private partial void LogExpired(string shop, long customerId, long points);

    [LoggerMessage(Level = LogLevel.Information, Message = "Expired the due points of {Customers} customer(s): {Points} points")]
    private partial void LogExpiredRun(int customers, long points);
}
