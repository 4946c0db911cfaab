namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// The balance a customer or merchant is shown. In POS mode it is the POS's, read in real time; if the POS
/// cannot be reached the ledger's figure is shown and says so. Totals always come from the ledger.
/// </summary>
public sealed record CustomerBalance(long Balance, long TotalEarned, long TotalRedeemed, string BalanceSource)
{
    public static async Task<CustomerBalance> ReadAsync(NpgsqlConnection conn, string shop, long customerId, ShopSettings settings,
        PosClient pos, IDataProtectionProvider dataProtection, CancellationToken ct)
    {
        var ledger = await Ledger.BalanceAsync(conn, shop, customerId, ct);
        var connection = settings.PosConnection(dataProtection);
        if (connection is null) return new CustomerBalance(ledger.Points, ledger.TotalEarned, ledger.TotalRedeemed, BalanceSources.Ledger);

        return await pos.GetBalanceAsync(connection, customerId.ToString(), ct) switch
        {
            PosBalance.Found found => new CustomerBalance(found.Balance, ledger.TotalEarned, ledger.TotalRedeemed, BalanceSources.Pos),
            PosBalance.CustomerNotFound => new CustomerBalance(0, ledger.TotalEarned, ledger.TotalRedeemed, BalanceSources.Pos),
            _ => new CustomerBalance(ledger.Points, ledger.TotalEarned, ledger.TotalRedeemed, "ledger_fallback"),
        };
    }
}
