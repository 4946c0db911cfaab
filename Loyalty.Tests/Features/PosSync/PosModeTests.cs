using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Loyalty.Tests.Infrastructure;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Settings;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// Shops whose balance lives in their POS: every ledger row reaches the POS exactly once (one reference,
/// however often it is sent), in order per customer, through the Hangfire job; nothing is lost while the POS is down.
/// </summary>
public sealed class PosModeTests(PosSyncApp app) : PosSyncTestBase<PosSyncApp>(app)
{
    private static object Tx(string reference, long points) => new { transactionId = "t_" + reference, reference, points, balance = 1000 };

    private async Task WaitForStateAsync(string reference, string state, int timeoutMs = 20000)
    {
        try
        {
            await LoyaltyApp.WaitUntilAsync(async () => await StateAsync(reference) == state, $"{reference} {state}", timeoutMs);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; {await OutboxAsync()}");
        }
    }

    private async Task<string> OutboxAsync()
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        var rows = await Dapper.SqlMapper.QueryAsync<string>(conn,
            "SELECT reference || ' ' || state || ' attempts=' || attempts || ' due=' || next_attempt_at || ' err=' || coalesce(last_error, '') FROM pos_outbox WHERE shop_domain = @shop ORDER BY id", new { shop = Shop });
        var jobs = await Dapper.SqlMapper.QueryAsync<string>(conn,
            "SELECT jobid || ':' || name || '@' || to_char(createdat, 'MI:SS.MS') || coalesce(' ' || (data::jsonb ->> 'EnqueueAt'), '') FROM hangfire.state ORDER BY id");
        var queue = await Dapper.SqlMapper.QueryAsync<string>(conn,
            "SELECT jobid || ':' || queue || ':' || coalesce(to_char(fetchedat, 'MI:SS.MS'), 'unfetched') FROM hangfire.jobqueue ORDER BY id");
        var servers = await Dapper.SqlMapper.QueryAsync<string>(conn, "SELECT id || '@' || to_char(lastheartbeat, 'MI:SS.MS') FROM hangfire.server");
        var locks = await Dapper.SqlMapper.QueryAsync<string>(conn, "SELECT resource || '@' || to_char(acquired, 'MI:SS.MS') FROM hangfire.lock");
        servers = servers.Append("locks: " + string.Join(", ", locks));
        return $"outbox: {string.Join(" | ", rows)}; now={DateTime.UtcNow:O}; POS calls: {Pos.LogEntries.Count()}; jobs: {string.Join(", ", jobs)}; " +
               $"queue: {string.Join(", ", queue)}; servers: {string.Join(", ", servers)}";
    }

    /// <summary>WireMock journals a request when its (possibly delayed) answer is done.</summary>
    private Task WaitForJournalAsync(string kind, int count) =>
        LoyaltyApp.WaitUntilAsync(() => Task.FromResult(References(kind).Count >= count), $"{count} POS {kind} journaled");

    private void AdditionsAnswer(Func<IResponseBuilder, IResponseBuilder> response, string? scenario = null, string? whenState = null, string? setState = null)
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
        Assert.Equal("Bearer pos-key", Pos.LogEntries.First().RequestMessage!.Headers!["Authorization"].Single());
        Assert.Contains("\"points\":120", Pos.LogEntries.First().RequestMessage!.Body);
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
            throw new TimeoutException($"{e.Message}; {await OutboxAsync()}");
        }
        Assert.Equal(3L, await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @shop AND state = 'pending'", new { shop = Shop }));

        Pos.Reset();
        Pos.Given(Request.Create().WithPath("/customers/777/points/additions").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201).WithBodyAsJson(new { transactionId = "t", reference = "x", points = 10, balance = 10 }));

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
        Assert.Contains("\"points\":50", Pos.LogEntries.Single(e => e.RequestMessage!.Path.EndsWith("deductions", StringComparison.Ordinal)).RequestMessage!.Body);
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
}
