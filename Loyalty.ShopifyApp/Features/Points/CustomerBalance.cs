namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// The balance a customer or merchant is shown. In POS mode it is the POS's, read in real time; if the POS
/// cannot be reached the ledger's figure is shown and says so. Totals and pending points always come from the ledger (a POS knows
/// only spendable points). <see cref="Lifetime"/>: every point earned and not taken back, pending ones included.
/// <see cref="LedgerBalance"/>: the ledger's own figure, whatever the source (what expiry goes by).
/// </summary>
public sealed record CustomerBalance(long Balance, long Pending, long TotalEarned, long TotalRedeemed, string BalanceSource, long LedgerBalance)
{
    public long Lifetime => TotalEarned + Pending;

    public static async Task<CustomerBalance> ReadAsync(NpgsqlConnection conn, string shop, long customerId, ShopSettings settings,
        PosClient pos, IDataProtectionProvider dataProtection, CancellationToken ct)
    {
        var ledger = await Ledger.BalanceAsync(conn, shop, customerId, ct);
        var connection = settings.PosConnection(shop, dataProtection);
        if (connection is null) return Of(ledger.Points, BalanceSources.Ledger);

        return await pos.GetBalanceAsync(connection, customerId.ToString(), ct) switch
        {
            PosBalance.Found found => Of(found.Balance, BalanceSources.Pos),
            PosBalance.CustomerNotFound => Of(0, BalanceSources.Pos),
            _ => Of(ledger.Points, "ledger_fallback"),
        };

        CustomerBalance Of(long balance, string source) => new(balance, ledger.Pending, ledger.TotalEarned, ledger.TotalRedeemed, source,
            ledger.Points);
    }
}
