namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// Where a shop keeps its customers' balances (<c>shop_settings.balance_source</c>, and the source a conversion was
/// admitted under, <c>conversions.balance_source</c>; the schema's check constraints list the same values).
/// </summary>
public static class BalanceSources
{
    /// <summary>This app's ledger is the balance.</summary>
    public const string Ledger = "ledger";

    /// <summary>The shop's POS owns the balance; the ledger records, and its changes are delivered to the POS.</summary>
    public const string Pos = "pos";
}
