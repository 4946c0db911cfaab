using Loyalty.ShopifyApp.Features.PosSync;
using WireMock.Matchers;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// Many shops on one POS sync: a shop with a backlog behind a slow POS holds back no other shop's changes. Judged by when each POS
/// received its calls (the POS fakes' own journals).
/// </summary>
public sealed class PosSyncFairnessTests(PosSyncFairnessTests.ManualJobsApp app) : PosSyncTestBase<PosSyncFairnessTests.ManualJobsApp>(app)
{
    /// <summary>The job runs only when a test calls it, so one run meets the whole backlog, four rows a batch, each leased for 3 s.</summary>
    public sealed class ManualJobsApp() : PosSyncApp(new() { ["Jobs:ServerEnabled"] = "false", ["Pos:AttemptTimeoutSeconds"] = "5",
        ["Pos:TotalTimeoutSeconds"] = "10", ["Pos:MaxRetries"] = "0", ["PosSync:BatchSize"] = "4", ["PosSync:LeaseSeconds"] = "3" });

    [Fact]
    public async Task A_shop_whose_slow_POS_has_a_backlog_does_not_hold_back_another_shops_change()
    {
        // This shop: eight customers' awards queued, its POS taking 400 ms a call.
        Pos.Given(Request.Create().WithPath(new RegexMatcher("^/customers/[0-9]+/points/additions$")).UsingPost())
            .RespondWith(Response.Create().WithDelay(400).WithStatusCode(201).WithBodyAsJson(new { transactionId = "t", points = 10, balance = 10 }));
        for (var c = 0; c < 8; c++) await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9300 + c, 700 + c, 10m, 10m));
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @Shop",
            new { Shop }) == 8, "this shop's eight awards queued first");

        // Another shop, its own POS, one award queued after all of them.
        var other = await Fixture.NewShopAsync();
        using var otherPos = Fixture.NewServer();
        otherPos.Given(Request.Create().WithPath(new RegexMatcher("^/customers/[0-9]+/points/additions$")).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201).WithBodyAsJson(new { transactionId = "t", points = 10, balance = 10 }));
        var settings = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", other,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = otherPos.Url, posApiKey = "other-key" })));
        Assert.Equal(HttpStatusCode.OK, settings.StatusCode);
        await App.DeliverAsync("orders/paid", other, ShopifyPayloads.Order(9399, 799, 10m, 10m));
        Assert.Equal(9, await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain IN (@Shop, @other) AND state = 'pending'",
            new { Shop, other }));

        await App.Services.GetRequiredService<PosSyncJob>().DeliverDueAsync(default);

        Assert.Equal(8, References("additions").Count);
        var otherAt = Assert.Single(otherPos.LogEntries).RequestMessage!.DateTime;
        var lastOfThisShop = Pos.LogEntries.Max(e => e.RequestMessage!.DateTime);
        Assert.True(otherAt < lastOfThisShop,
            $"the other shop's change reached its POS at {otherAt:O}, after this shop's last at {lastOfThisShop:O}");
    }

    [Fact]
    public async Task A_claimed_change_whose_lease_ran_out_before_its_turn_is_sent_once_by_the_run_that_took_it_over()
    {
        // Three customers' awards, claimed in one batch by the first run; the POS takes 2.5 s a call, so the third row's lease (3 s from
        // the claim) runs out while the first run is still busy with the second, and a second run takes it over at 4.5 s, before the
        // third row's turn (5 s). The first row's lease, renewed as its call starts, runs out at 3 s too: its call must have been
        // answered and recorded by 4.5 s, or the second run takes it over as well and sends it again (a margin of 2 s for a loaded
        // machine; the 0.8 s it had was once too little in CI).
        Pos.Given(Request.Create().WithPath(new RegexMatcher("^/customers/[0-9]+/points/additions$")).UsingPost())
            .RespondWith(Response.Create().WithDelay(2500).WithStatusCode(201)
                .WithBodyAsJson(new { transactionId = "t", points = 10, balance = 10 }));
        for (var c = 0; c < 3; c++) await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9500 + c, 750 + c, 10m, 10m));
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @Shop",
            new { Shop }) == 3, "three awards queued");
        var job = App.Services.GetRequiredService<PosSyncJob>();

        var first = job.DeliverDueAsync(default);
        await Task.Delay(4500);
        var second = job.DeliverDueAsync(default);
        await Task.WhenAll(first, second);

        var sent = References("additions").GroupBy(r => r).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(3, sent.Count);
        Assert.All(sent, s => Assert.Equal(1, s.Value)); // never the same reference from two runs at once
    }
}
