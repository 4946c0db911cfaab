using Dapper;
using Loyalty.Pos;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// A shop's POS circuit is one for every instance (issue 19): once it opens on one, the others stop calling that POS too, instead of
/// each waiting for failures of its own; another shop, even on the same POS host, is not held back, nor is a connection the merchant
/// saved since. The break here outlasts every test, so what ends it is the app.
/// </summary>
public sealed class SharedPosCircuitTests(LongBreakInstances app) : SharedPosCircuitTestBase<LongBreakInstances>(app)
{
    [Fact]
    public async Task After_one_instance_opens_a_shops_POS_circuit_the_other_fails_fast_without_calling_that_POS()
    {
        await OpenOnTheFirstInstanceAsync();

        // The second instance never called this POS: only the shared break can keep it away.
        for (var i = 0; i < 3; i++) Assert.Equal("ledger_fallback", await BalanceSourceAsync(Second, Shop));

        Assert.Equal(2, PosReads());
    }

    [Fact]
    public async Task Another_shop_on_the_same_POS_host_still_reaches_it_from_the_other_instance()
    {
        var other = await Fixture.NewShopAsync();
        using (var saved = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", other,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = "other-key" }))))
        {
            Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        }
        Pos.Given(BalanceRead("other-key")).RespondWith(Balance(40));
        await OpenOnTheFirstInstanceAsync();

        Assert.Equal("ledger_fallback", await BalanceSourceAsync(Second, Shop));
        Assert.Equal("pos", await BalanceSourceAsync(Second, other));

        Assert.Equal(1, PosReads("other-key"));
        Assert.Equal(2, PosReads("pos-key"));
    }

    [Fact]
    public async Task Saving_another_POS_key_clears_the_shops_shared_break()
    {
        await OpenOnTheFirstInstanceAsync();
        Assert.Equal("ledger_fallback", await BalanceSourceAsync(Second, Shop));
        Pos.Given(BalanceRead("new-key")).RespondWith(Balance(40));

        await SavePosKeyAsync(Second, "new-key");

        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM pos_circuits WHERE shop_domain = @shop", new { shop = Shop }));
        Assert.Equal("pos", await BalanceSourceAsync(Second, Shop));
        Assert.Equal(1, PosReads("new-key"));
    }

    [Fact]
    public async Task A_break_the_old_connection_opens_after_a_new_key_was_saved_does_not_hold_back_the_new_one()
    {
        Pos.Given(BalanceRead("pos-key")).RespondWith(Response.Create().WithStatusCode(500));
        Pos.Given(BalanceRead("new-key")).RespondWith(Balance(40));
        // A run that loaded the shop's POS before the merchant saved a new key, still calling with the old one.
        var old = await SavedConnectionAsync();
        await SavePosKeyAsync(App, "new-key");

        var pos = App.Services.GetRequiredService<PosClient>();
        for (var i = 0; i < 2; i++) Assert.IsType<PosBalance.Unavailable>(await pos.GetBalanceAsync(old, "777", default));
        await LoyaltyApp.WaitUntilAsync(async () => await BreaksAsync(Shop) == 1, "the old connection's break on the shared board");

        Assert.Equal("pos", await BalanceSourceAsync(Second, Shop));
        Assert.Equal(1, PosReads("new-key"));
    }

    [Fact]
    public async Task Posting_a_break_deletes_the_shops_breaks_that_ended_over_an_hour_ago()
    {
        var other = await Fixture.NewShopAsync();
        await using (var conn = await App.Db.OpenConnectionAsync())
        {
            await conn.ExecuteAsync("""
                INSERT INTO pos_circuits (shop_domain, connection, opened_at, open_until) VALUES
                    (@shop, '00000000000000a1', clock_timestamp() - interval '2 hours', clock_timestamp() - interval '61 minutes'),
                    (@shop, '00000000000000a2', clock_timestamp() - interval '2 hours', clock_timestamp() - interval '59 minutes'),
                    (@other, '00000000000000a1', clock_timestamp() - interval '2 hours', clock_timestamp() - interval '61 minutes')
                """, new { shop = Shop, other });
        }

        await App.Services.GetRequiredService<IPosCircuitBoard>().OpenedAsync(new PosCircuitKey(Shop, "00000000000000b1"),
            TimeSpan.FromSeconds(15), default);

        await using var check = await App.Db.OpenConnectionAsync();
        var rows = await check.QueryAsync<string>("""
            SELECT shop_domain || ' ' || connection FROM pos_circuits WHERE shop_domain IN (@shop, @other)
            """, new { shop = Shop, other });
        Assert.Equal(new[] { $"{Shop} 00000000000000a2", $"{Shop} 00000000000000b1", $"{other} 00000000000000a1" }
            .Order(StringComparer.Ordinal), rows.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Connection_tests_post_a_break_only_under_the_saved_connection()
    {
        Pos.Given(Request.Create().WithPath("/transactions/loyalty:connection-test").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(500));

        // Another key, typed to try it: its circuit opens on this instance, and no call of the shop uses that key.
        for (var i = 0; i < 2; i++) await TestConnectionAsync("other-key");
        // The saved key, typed again: the very connection the shop's calls use, though the typed key is encrypted afresh.
        for (var i = 0; i < 2; i++) await TestConnectionAsync("pos-key");
        await LoyaltyApp.WaitUntilAsync(async () => await BreaksAsync(Shop) > 0, "a break on the shared board");
        await Task.Delay(TimeSpan.FromSeconds(0.5)); // any other break posted has been written by now

        var breaks = await App.ScalarAsync<string>("SELECT string_agg(connection, ' ') FROM pos_circuits WHERE shop_domain = @shop",
            new { shop = Shop });
        Assert.Equal((await SavedConnectionAsync()).Circuit!.Connection, breaks);
        Assert.Equal("ledger_fallback", await BalanceSourceAsync(Second, Shop));
        Assert.Equal(0, PosReads());
    }

    private async Task TestConnectionAsync(string key)
    {
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/settings/pos/test", Shop,
            JsonContent.Create(new { posApiKey = key })));
        Assert.Equal("pos_unreachable", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error").GetString());
    }
}
