using Dapper;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// Shops whose balance lives in their POS: every ledger row reaches the POS exactly once (one reference,
/// however often it is sent), in order per customer, through the Hangfire job; nothing is lost while the POS is down.
/// </summary>
public sealed class PosModeTests(PosSyncApp app) : PosSyncTestBase<PosSyncApp>(app)
{
    private static object Tx(string reference, long points) => new { transactionId = "t_" + reference, reference, points, balance = 1000 };

    /// <summary>WireMock journals a request when its (possibly delayed) answer is done.</summary>
    private Task WaitForJournalAsync(string kind, int count) =>
        LoyaltyApp.WaitUntilAsync(() => Task.FromResult(References(kind).Count >= count), $"{count} POS {kind} journaled");

    private void AdditionsAnswer(Func<IResponseBuilder, IResponseBuilder> response, string? scenario = null, string? whenState = null,
        string? setState = null)
    {
        var given = Pos.Given(Request.Create().WithPath("/customers/777/points/additions").UsingPost());
        if (scenario is not null)
        {
            given = given.InScenario(scenario);
            if (whenState is not null) given = given.WhenStateIs(whenState);
            if (setState is not null) given = given.WillSetStateTo(setState);
        }
        given.RespondWith(response(Response.Create()));
    }

    [Fact]
    public async Task An_award_reaches_the_POS_through_the_job_with_the_order_reference()
    {
        AdditionsAnswer(r => r.WithStatusCode(201).WithBodyAsJson(Tx("order:9001", 120)));

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9001, 777, 120m, 130m));

        await WaitForStateAsync("order:9001", "delivered");
        Assert.Equal(["order:9001"], References("additions"));
        Assert.Equal("Bearer pos-key", Pos.LogEntries[0].RequestMessage!.Headers!["Authorization"].Single());
        Assert.Contains("\"points\":120", Pos.LogEntries[0].RequestMessage!.Body);
    }

    [Fact]
    public async Task A_row_that_fails_inside_the_app_is_retried_with_its_reason_and_holds_back_no_other_shop()
    {
        AdditionsAnswer(r => r.WithStatusCode(201).WithBodyAsJson(Tx("order:9052", 10)));
        // This shop's POS key was protected with data-protection keys the app no longer has (a deploy that lost its key ring).
        await App.ScalarAsync<int>("UPDATE shop_settings SET pos_api_key_protected = 'CfDJ8-unreadable' WHERE shop_domain = @shop",
            new { shop = Shop });
        var other = await Fixture.NewShopAsync();
        var settings = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", other,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = "pos-key" })));
        Assert.Equal(HttpStatusCode.OK, settings.StatusCode);

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9051, 777, 10m, 10m));
        await App.DeliverAsync("orders/paid", other, ShopifyPayloads.Order(9052, 777, 10m, 10m));

        try
        {
            await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<string>(
                "SELECT state FROM pos_outbox WHERE shop_domain = @other AND reference = 'order:9052'", new { other }) == "delivered",
                    "the other shop's award delivered", 20000);
            // The failing row is not left leased and silent: it is retried with back-off, with a reason the merchant can act on.
            await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<int>(
                "SELECT attempts FROM pos_outbox WHERE shop_domain = @shop AND reference = 'order:9051' AND state = 'pending' AND last_error LIKE " +
                    "'%POS API key%'",
                new { shop = Shop }) >= 2, "order:9051 retried with its reason", 20000);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; {await DiagnosticsAsync()}");
        }
        Assert.Equal(["order:9052"], References("additions"));
    }

    public static TheoryData<string> Failures => ["500", "429", "slow", "reset", "applied-but-lost"];

    [Theory]
    [MemberData(nameof(Failures))]
    public async Task Every_kind_of_POS_failure_ends_with_one_addition_per_reference(string failure)
    {
        Func<IResponseBuilder, IResponseBuilder> first = failure switch
        {
            "500" => r => r.WithStatusCode(500),
            "429" => r => r.WithStatusCode(429).WithHeader("Retry-After", "1"),
            "slow" => r => r.WithStatusCode(201).WithDelay(TimeSpan.FromSeconds(2)).WithBodyAsJson(Tx("order:9002", 100)),
            "reset" => r => r.WithFault(FaultType.MALFORMED_RESPONSE_CHUNK),
            _ => r => r.WithStatusCode(201).WithDelay(TimeSpan.FromSeconds(4)).WithBodyAsJson(Tx("order:9002", 100)), // applied, answer lost
        };
        AdditionsAnswer(first, "pos", setState: "recovered");
        // Once recovered, the POS answers a reference it already applied with 200 (a replay), as its contract says.
        AdditionsAnswer(r => r.WithStatusCode(failure is "slow" or "applied-but-lost" ? 200 : 201).WithBodyAsJson(Tx("order:9002", 100)),
            "pos", whenState: "recovered");

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9002, 777, 100m, 100m));

        await WaitForStateAsync("order:9002", "delivered");
        await WaitForJournalAsync("additions", 2); // the failure was retried
        Assert.All(References("additions"), r => Assert.Equal("order:9002", r));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task A_POS_that_is_down_for_a_long_time_loses_nothing_and_gets_everything_when_it_returns()
    {
        AdditionsAnswer(r => r.WithStatusCode(503), "outage");
        for (var i = 0; i < 3; i++) await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9100 + i, 777, 10m, 10m));
        // Rows of one customer go in order: the first is retried while the others wait behind it.
        try
        {
            await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<int>(
                "SELECT max(attempts) FROM pos_outbox WHERE shop_domain = @shop", new { shop = Shop }) >= 3, "several failed attempts");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; {await DiagnosticsAsync()}");
        }
        Assert.Equal(3L, await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @shop AND state = 'pending'",
            new { shop = Shop }));

        Pos.Reset();
        Pos.Given(Request.Create().WithPath("/customers/777/points/additions").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201).WithBodyAsJson(
                new { transactionId = "t", reference = "x", points = 10, balance = 10 }));

        foreach (var id in new[] { 9100, 9101, 9102 }) await WaitForStateAsync($"order:{id}", "delivered");
        Assert.Equal(["order:9100", "order:9101", "order:9102"], References("additions").Distinct().ToArray());
    }

    [Fact]
    public async Task A_clawback_reaches_the_POS_as_a_deduction_after_its_award()
    {
        AdditionsAnswer(r => r.WithStatusCode(201).WithBodyAsJson(Tx("order:9301", 100)));
        Pos.Given(Request.Create().WithPath("/customers/777/points/deductions").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201).WithBodyAsJson(Tx("refund:77", -50)));

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9301, 777, 100m, 100m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(77, 9301, 50m));

        await WaitForStateAsync("refund:77", "delivered");
        Assert.Equal(["refund:77"], References("deductions"));
        Assert.Contains("\"points\":50", Pos.LogEntries.Single(e => e.RequestMessage!.Path.EndsWith("deductions",
            StringComparison.Ordinal)).RequestMessage!.Body);
    }

    [Fact]
    public async Task The_customer_sees_the_POS_balance_in_real_time_and_the_ledger_when_the_POS_is_unreachable()
    {
        Pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 4321 }));

        var me = await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, 777));
        Assert.Equal((4321L, "pos"), (me.GetProperty("balance").GetInt64(), me.GetProperty("balanceSource").GetString()));

        Pos.Reset();
        Pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet()).RespondWith(Response.Create().WithStatusCode(503));
        var fallback = await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, 777));
        Assert.Equal("ledger_fallback", fallback.GetProperty("balanceSource").GetString());
    }

    [Theory]
    [InlineData("""{"balance":"lots"}""")]
    [InlineData("""{"balance":1.5}""")]
    [InlineData("""{"points":5}""")]
    [InlineData("""[]""")]
    public async Task A_POS_balance_answer_that_breaks_the_contract_shows_the_ledger_instead_of_a_500(string answer)
    {
        Pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json").WithBody(answer));

        using var response = await App.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, 777));

        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        Assert.Equal("ledger_fallback", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("balanceSource").GetString());
    }

    [Fact]
    public async Task A_balance_source_switch_waits_for_an_award_made_under_the_old_source_to_commit()
    {
        // The award's transaction has read the shop's settings (POS) and waits for the customer's balance row, held here.
        await App.ScalarAsync<int>("INSERT INTO point_balances (shop_domain, customer_id) VALUES (@shop, 777) RETURNING 1", new { shop = Shop });
        await using var holder = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await holder.OpenAsync();
        await using var held = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("SELECT 1 FROM point_balances WHERE shop_domain = @shop AND customer_id = 777 FOR UPDATE", new { shop = Shop },
            held);
        await App.PostWebhookAsync("orders/paid", Shop, ShopifyPayloads.Order(9001, 777, 50m, 50m), webhookId: "paid-" + Shop);
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>("""
            SELECT count(*) FROM pg_stat_activity
            WHERE wait_event_type = 'Lock' AND query LIKE '%point_balances%' AND pid <> pg_backend_pid()
            """) > 0, "the award waiting for the balance row");

        var switching = App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { balanceSource = "ledger" })));
        await Task.WhenAny(switching, Task.Delay(1500));
        Assert.False(switching.IsCompleted, "the switch to the ledger went through while an award made under the POS was uncommitted");

        await held.CommitAsync();
        Assert.Equal(HttpStatusCode.OK, (await switching).StatusCode);
        await App.WaitForDeliveryAsync("paid-" + Shop, "processed");
        // Made under the POS source, the award is queued for the POS: it committed before the switch.
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @shop AND reference = 'order:9001'",
            new { shop = Shop }));
    }
}
