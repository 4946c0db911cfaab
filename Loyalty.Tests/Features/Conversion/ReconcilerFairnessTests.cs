using Loyalty.ShopifyApp.Features.Conversion;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// Shops take turns in the reconciler's claims: one shop with many conversions waiting cannot fill a batch (and every worker)
/// while another shop's conversion waits, and each shop's most urgent go first. Claims are made by the test (jobs off).
/// </summary>
public sealed class ReconcilerFairnessTests(ReconcilerFairnessTests.FairApp app) : AppTests<ReconcilerFairnessTests.FairApp>(app)
{
    public sealed class FairApp() : AppFixture(new()
    {
        ["Jobs:ServerEnabled"] = "false", ["Conversion:ReconcilerBatchSize"] = "5", ["Conversion:ReconcilerMaxPerShop"] = "2",
    });

    /// <summary>A conversion left for the reconciler (its points to give back), due for <paramref name="dueSeconds"/>.</summary>
    private async Task<string> WaitingAsync(string shop, long customer, int dueSeconds, string state = "compensating")
    {
        var id = "conv_" + Guid.NewGuid().ToString("N")[..24];
        await App.ScalarAsync<int>("""
            INSERT INTO conversions (id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code,
                                     expires_at, next_attempt_at)
            VALUES (@id, @shop, @customer, @id, 100, 1, 'EUR', 'ledger', @state, @id, now() + interval '30 days',
                    now() - make_interval(secs => @dueSeconds))
            """, new { id, shop, customer, state, dueSeconds });
        return id;
    }

    private Task<List<ConversionRow>> ClaimAsync() => App.Services.GetRequiredService<ConversionReconciler>().ClaimAsync(default);

    [Fact]
    public async Task A_quiet_shops_conversion_is_in_the_first_claim_though_another_shop_has_six_waiting_longer()
    {
        var busy = new List<string>();
        for (var i = 0; i < 6; i++) busy.Add(await WaitingAsync(Shop, 800 + i, dueSeconds: 600 - i)); // oldest first
        var quietShop = await Fixture.NewShopAsync();
        var quiet = await WaitingAsync(quietShop, 900, dueSeconds: 1);

        var first = (await ClaimAsync()).Select(c => c.Id).ToHashSet();
        var second = (await ClaimAsync()).Select(c => c.Id).ToHashSet();

        Assert.Contains(quiet, first);
        Assert.Equal([.. busy[..2]], first.Where(busy.Contains).ToHashSet()); // the busy shop's two most urgent, and no more
        Assert.Equal([.. busy[2..4]], second); // then its next two: each claim takes at most two of a shop
    }

    [Fact]
    public async Task Coupons_and_points_to_settle_go_before_a_metafield_to_write_within_a_shop()
    {
        var metafield = await WaitingAsync(Shop, 700, dueSeconds: 900, state: "completed");
        var settling = await WaitingAsync(Shop, 701, dueSeconds: 5, state: "settling");
        var pending = await WaitingAsync(Shop, 702, dueSeconds: 4, state: "pending");

        var claimed = (await ClaimAsync()).Where(c => c.ShopDomain == Shop).Select(c => c.Id).ToHashSet();

        Assert.Equal([settling, pending], claimed); // the metafield, waiting longest, waits for the shop's next turn
    }
}
