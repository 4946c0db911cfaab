using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.ShopifyApp.Features.Expiry;

/// <summary>
/// Points expiring soon: the shop's <see cref="ShopSettings.ExpiryNoticeDays"/> before a lot the customer holds expires (or before their
/// inactivity period ends), one <c>points.expiring</c> event per customer and run, naming each lot once (<c>expiry_notices</c>), so
/// the merchant can remind the customer before the points go. Sent by an hourly job; the same facts My Page shows as what expires
/// next.
/// </summary>
public sealed partial class ExpiryNotices(NpgsqlDataSource db, ProgramClock clock, IOptions<ExpiryOptions> options, ILogger<ExpiryNotices> logger)
{
    public const string RecurringId = "expiry-notices";

    private sealed record Soon(string Key, long? LotId, long Points, DateTimeOffset ExpiresAt);

    /// <summary>The recurring run: every customer with points expiring within their shop's notice period and not noticed yet.</summary>
    public async Task<int> NoticeDueAsync(CancellationToken ct)
    {
        var now = clock.Now;
        var noticed = 0;
        await using var conn = await db.OpenConnectionAsync(ct);
        await foreach (var (shop, customer) in HeldLots.CandidatesAsync(conn, Candidates, now, options.Value.BatchSize, ct))
        {
            if (noticed >= options.Value.MaxPerRun) break;
            try
            {
                if (await NoticeAsync(conn, shop, customer, now, ct)) noticed++;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogNotNoticed(ex, shop, customer);
            }
        }
        if (noticed > 0) LogNoticed(noticed);
        return noticed;
    }

    /// <summary>Customers with something that expires within their shop's notice period (already due ones too: the notice says so).</summary>
    private static readonly string Candidates = HeldLots.DueBy("@now + make_interval(days => s.expiry_notice_days)", "s.expiry_notice_days > 0");

    /// <returns>Whether the customer was told of anything new.</returns>
    private static async Task<bool> NoticeAsync(NpgsqlConnection conn, string shop, long customer, DateTimeOffset now, CancellationToken ct)
    {
        await using var tx = await conn.BeginTransactionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, tx, shop, ct);
        var horizon = now.AddDays(settings.ExpiryNoticeDays);
        var balance = await conn.ExecuteScalarAsync<long>(new CommandDefinition(
            "SELECT coalesce((SELECT balance FROM point_balances WHERE shop_domain = @shop AND customer_id = @customer), 0)",
            new { shop, customer }, tx, cancellationToken: ct)) - await HeldLots.SpentInFlightAsync(conn, tx, shop, customer, ct);
        List<Soon> soon = [];
        if (balance > 0 && settings.ExpiryMode == ExpiryModes.Earned && settings.ExpiryNoticeDays > 0)
        {
            soon = [.. (await HeldLots.ForCustomerAsync(conn, tx, shop, customer, balance, settings, ct))
                .Where(l => l.ExpiresAt > now && l.ExpiresAt <= horizon)
                .Select(l => new Soon($"lot:{l.LotId}", l.LotId, l.Points, l.ExpiresAt))];
        }
        else if (balance > 0 && settings.ExpiryMode == ExpiryModes.Inactivity && settings.ExpiryNoticeDays > 0
            && await HeldLots.LastActivityEndsAsync(conn, tx, shop, customer, settings, ct) is { } ends && ends > now && ends <= horizon)
        {
            soon = [new Soon($"inactive:{ends.UtcDateTime:O}", null, balance, ends)];
        }

        var told = new List<Soon>();
        foreach (var s in soon)
        {
            var inserted = await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO expiry_notices (shop_domain, customer_id, notice_key, points, expires_at)
                VALUES (@shop, @customer, @Key, @Points, @ExpiresAt) ON CONFLICT DO NOTHING
                """, new { shop, customer, s.Key, s.Points, s.ExpiresAt }, tx, cancellationToken: ct));
            if (inserted == 1) told.Add(s);
        }
        if (told.Count > 0)
        {
            await Events.OutgoingEvents.EmitAsync(conn, tx, shop, "points.expiring", new
            {
                customerId = customer, points = told.Sum(s => s.Points), expiresAt = told.Min(s => s.ExpiresAt), mode = settings.ExpiryMode,
                lots = told.Select(s => new { lotTransactionId = s.LotId, points = s.Points, expiresAt = s.ExpiresAt }),
            }, ct);
            // Once per notice: the first notice key told now was never told before.
            await Flow.FlowTriggers.QueueAsync(conn, tx, shop, Flow.FlowTrigger.PointsExpiring, $"{customer}:{told[0].Key}", customer,
                new Dictionary<string, object>
                {
                    ["Points"] = told.Sum(s => s.Points), ["Expires at"] = Flow.FlowTriggers.Instant(told.Min(s => s.ExpiresAt)),
                }, ct);
        }
        await tx.CommitAsync(ct);
        return told.Count > 0;
    }

    [LoggerMessage(Level = LogLevel.Error,
        Message = "Could not tell {Shop} of the points of customer {CustomerId} expiring soon; the next run retries")]
    private partial void LogNotNoticed(Exception ex, string shop, long customerId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Told the shops of {Customers} customer(s) with points expiring soon")]
    private partial void LogNoticed(int customers);
}
