using Dapper;
using Loyalty.ShopifyApp.Features.Settings;

namespace Loyalty.Tests.Features.Points;

/// <summary>A set's delivery claimed by another instance while the set waited: the set leaves it, and it is awarded once.</summary>
public sealed partial class OrderAwardSetTests
{
    [Fact]
    public async Task A_delivery_another_instance_took_over_while_its_set_waited_is_left_to_it_and_awarded_once()
    {
        await EarnOnTheSubtotalAsync(Shop, 1m);
        foreach (var (order, customer) in new[] { (9001L, 901L), (9002, 902), (9003, 903) })
        {
            await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(order, customer, 10m, 10m));
        }
        // A merchant switching the balance source holds its lock: the set, its three deliveries claimed, waits to read the settings.
        await using var merchant = new Npgsql.NpgsqlConnection(App.ConnectionString); // another instance's session, not the app's pool
        await merchant.OpenAsync();
        var key = SettingsEndpoints.BalanceSourceLock(Shop);
        await merchant.ExecuteAsync("SELECT pg_advisory_lock(hashtextextended(@key, 0))", new { key });
        var processing = ProcessAsync();
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted") > 0, "the set waiting for the settings");

        // Meanwhile another instance, finding 9002's lease ended (a long stall), claims it: its second attempt.
        Assert.Equal(2, await App.ScalarAsync<int>("""
            UPDATE webhook_deliveries SET attempts = attempts + 1, locked_until = now() + interval '1 hour'
            WHERE shop_domain = @shop AND order_id = 9002 AND status = 'processing' RETURNING attempts
            """, new { shop = Shop }));
        await merchant.ExecuteAsync("SELECT pg_advisory_unlock(hashtextextended(@key, 0))", new { key });
        await processing;

        // The set awarded what it still held and left 9002 to the instance that holds it now.
        var balances = new List<long>();
        foreach (var customer in new long[] { 901, 902, 903 }) balances.Add(await App.BalanceAsync(Shop, customer));
        Assert.Equal([10L, 0L, 10L], balances);
        Assert.Contains($"Handled 2 orders/paid deliveries for {Shop} as one set; 0 left to be handled one by one, 1 taken over",
            App.Log.Tail(500, Shop));
        Assert.Equal("processing 2", await App.ScalarAsync<string>(
            "SELECT status || ' ' || attempts FROM webhook_deliveries WHERE shop_domain = @shop AND order_id = 9002", new { shop = Shop }));

        // That instance dies before finishing; once its lease ends the delivery is claimed again and awarded, once.
        await App.ScalarAsync<int>("UPDATE webhook_deliveries SET locked_until = now() - interval '1 second' " +
                                   "WHERE shop_domain = @shop AND order_id = 9002 RETURNING 1", new { shop = Shop });
        await ProcessAsync();

        Assert.Equal(10, await App.BalanceAsync(Shop, 902));
        Assert.Equal(3, await App.ScalarAsync<int>(
            "SELECT count(*)::int FROM point_transactions WHERE shop_domain = @shop AND kind = 'order_award'", new { shop = Shop }));
        Assert.Equal(0, await App.ScalarAsync<int>(
            "SELECT count(*)::int FROM webhook_deliveries WHERE shop_domain = @shop AND status <> 'processed'", new { shop = Shop }));
    }
}
