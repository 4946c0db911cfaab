using Loyalty.Pos;
using Loyalty.ShopifyApp.Features.Points;
using Loyalty.ShopifyApp.Features.Settings;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.DataProtection;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary><c>GET /proxy/api/me</c>: the logged-in customer's balance, totals and recent history.</summary>
public static class MyPoints
{
    public sealed record Me(long CustomerId, long Balance, long TotalEarned, long TotalRedeemed, string BalanceSource,
        IReadOnlyList<Ledger.HistoryItem> History);

    public static RouteGroupBuilder MapMyPoints(this RouteGroupBuilder proxy)
    {
        proxy.MapGet("/api/me", GetAsync).RequireLoggedInCustomer();
        return proxy;
    }

    private static async Task<Me> GetAsync(HttpContext http, NpgsqlDataSource db, PosClient pos, IDataProtectionProvider dataProtection,
        CancellationToken ct)
    {
        var (shop, customer) = (http.Proxy().Shop, http.Customer());
        await using var conn = await db.OpenConnectionAsync(ct);
        var settings = await ShopSettings.LoadAsync(conn, null, shop, ct);
        var balance = await CustomerBalance.ReadAsync(conn, shop, customer, settings, pos, dataProtection, ct);
        var history = await Ledger.HistoryAsync(conn, shop, customer, null, 20, ct);
        return new Me(customer, balance.Balance, balance.TotalEarned, balance.TotalRedeemed, balance.BalanceSource, history);
    }
}
