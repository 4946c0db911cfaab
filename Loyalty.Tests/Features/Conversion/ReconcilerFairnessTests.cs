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

    /// <summary>What earlier tests of the class left waiting is put off, so each test's claims see its own conversions only.</summary>
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        await App.ScalarAsync<int>("UPDATE conversions SET next_attempt_at = now() + interval '1 day', locked_until = NULL");
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

        Assert.Contains(quiet, first); // the old claim took the busy shop's five oldest
        Assert.Equal([.. busy[..4]], first.Where(busy.Contains).ToHashSet()); // the rest of the batch: the busy shop's oldest
        Assert.Equal([.. busy[4..]], second);
    }

    [Fact]
    public async Task A_shop_alone_fills_whole_batches()
    {
        var waiting = new List<string>();
        for (var i = 0; i < 7; i++) waiting.Add(await WaitingAsync(Shop, 600 + i, dueSeconds: 300 - i));

        Assert.Equal([.. waiting[..5]], (await ClaimAsync()).Select(c => c.Id).ToHashSet());
    }

    [Fact]
    public async Task Conversions_in_flight_in_any_shop_go_before_a_metafield_to_write()
    {
        var metafield = await WaitingAsync(Shop, 700, dueSeconds: 900, state: "completed");
        var otherShop = await Fixture.NewShopAsync();
        var inFlight = new List<string>();
        for (var i = 0; i < 5; i++) inFlight.Add(await WaitingAsync(otherShop, 710 + i, dueSeconds: 5, state: i % 2 == 0 ? "settling" : "pending"));

        var claimed = (await ClaimAsync()).Select(c => c.Id).ToHashSet();

        Assert.Equal([.. inFlight], claimed); // the metafield, waiting longest and first of its shop, waits for the next claim
        Assert.Contains(metafield, (await ClaimAsync()).Select(c => c.Id));
    }
}
