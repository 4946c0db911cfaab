using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Loyalty.Tests.Infrastructure;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
using WireMock.Server;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// Changes the POS refuses for good (it answered, and did not apply them): they must not hold back the
/// customer's later changes; each stays visible with its reason and the drift it leaves, and can be retried.
/// </summary>
public sealed class PosRefusalTests : IAsyncLifetime
{
    private const long Customer = 777;
    private readonly ShopifyFake _shopify = new();
    private readonly WireMockServer _pos = WireMockServer.Start();
    private LoyaltyApp _app = null!;
    private string _shop = null!;

    public async Task InitializeAsync()
    {
        _app = await LoyaltyApp.StartAsync(_shopify, new Dictionary<string, string?>
        {
            ["Settings:AllowInsecurePosUrls"] = "true",
            ["Pos:AllowPrivateNetworks"] = "true",
            ["Pos:AttemptTimeoutSeconds"] = "0.5",
            ["Pos:TotalTimeoutSeconds"] = "3",
            ["Pos:RetryBaseDelayMs"] = "20",
            ["PosSync:RetryBaseDelaySeconds"] = "0.1",
            ["PosSync:MaxRetryDelaySeconds"] = "0.3",
            ["Jobs:QueuePollIntervalMs"] = "100",
            ["Jobs:SchedulePollIntervalMs"] = "100",
        });
        _shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, _shop);
        _shopify.StubCouponsMetafield(_shop);
        _shopify.StubMetafieldsSet(_shop);
        _shopify.StubDiscountDelete(_shop);
        var response = await _app.Http.SendAsync(_app.Admin(HttpMethod.Put, "/api/admin/settings", _shop,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = _pos.Url, posApiKey = "pos-key" })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _shopify.Dispose();
        _pos.Stop();
    }

    /// <summary>How the POS answers an addition or deduction: for one reference, or (null) for any other.</summary>
    private void Answer(string kind, string? reference, int status, object body)
    {
        var request = Request.Create().WithPath($"/customers/{Customer}/points/{kind}").UsingPost();
        if (reference is not null) request = request.WithBody(new WildcardMatcher($"*\"reference\":\"{reference}\"*"));
        _pos.Given(request).AtPriority(reference is null ? 100 : 1)
            .RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(body));
    }

    private static object Tx(long points) => new { transactionId = "t_" + Guid.NewGuid().ToString("N"), reference = "r", points, balance = 1000 };

    /// <summary>The references POSTed to the POS, in the order its journal holds them.</summary>
    private IReadOnlyList<string> References(string kind) => _pos.LogEntries
        .Where(e => e.RequestMessage!.Path.EndsWith("/points/" + kind, StringComparison.Ordinal) && e.RequestMessage.Method == "POST")
        .Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement.GetProperty("reference").GetString()!)
        .ToList();

    private async Task WaitForPosAsync(string kind, string reference, int times = 1)
    {
        try
        {
            await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(References(kind).Count(r => r == reference) >= times),
                $"{reference} POSTed {times}x to {kind}", 20000);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; outbox: {await OutboxAsync()}");
        }
    }

    private async Task<string> OutboxAsync()
    {
        await using var conn = await _app.Db.OpenConnectionAsync();
        var rows = await Dapper.SqlMapper.QueryAsync<string>(conn,
            "SELECT reference || ' ' || points || ' ' || state || ' err=' || coalesce(last_error, '') FROM pos_outbox WHERE shop_domain = @shop ORDER BY id",
            new { shop = _shop });
        return string.Join(" | ", rows);
    }

    [Fact]
    public async Task An_addition_for_a_customer_the_POS_does_not_know_does_not_hold_back_that_customers_later_changes()
    {
        Answer("additions", "order:9401", 404, new { error = "customer_not_found" });
        Answer("additions", null, 201, Tx(30));

        await _app.DeliverAsync("orders/paid", _shop, ShopifyPayloads.Order(9401, Customer, 50m, 50m));
        await WaitForPosAsync("additions", "order:9401");
        await _app.DeliverAsync("orders/paid", _shop, ShopifyPayloads.Order(9402, Customer, 30m, 30m));

        await WaitForPosAsync("additions", "order:9402"); // the refused award does not hold it back
        Assert.Equal(["order:9401", "order:9402"], References("additions"));
    }

    [Fact]
    public async Task A_clawback_the_POS_refuses_does_not_hold_back_a_cancelled_coupons_points_or_a_later_award()
    {
        _pos.Given(Request.Create().WithPath($"/customers/{Customer}/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 1000 }));
        Answer("additions", null, 201, Tx(100));
        Answer("deductions", "refund:77", 422, new { error = "insufficient_points", balance = 0 }); // spent in the store already
        Answer("deductions", null, 201, Tx(-500));
        _shopify.StubDiscountCreate(_shop);

        await _app.DeliverAsync("orders/paid", _shop, ShopifyPayloads.Order(9501, Customer, 100m, 100m));
        await WaitForPosAsync("additions", "order:9501");
        await _app.DeliverAsync("refunds/create", _shop, ShopifyPayloads.Refund(77, 9501, 50m));
        await WaitForPosAsync("deductions", "refund:77");

        // The customer turns 500 points into a coupon (deducted at the POS directly), then cancels it: the points go back
        // through the POS sync.
        using var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", _shop, Customer))
        {
            Content = new StringContent("""{"points":500}""", Encoding.UTF8, "application/json"),
        };
        convert.Headers.Add("Idempotency-Key", "refusal-c1");
        var converted = await _app.Http.SendAsync(convert);
        Assert.Equal(HttpStatusCode.Created, converted.StatusCode);
        var body = await converted.Content.ReadFromJsonAsync<JsonElement>();
        var (conversion, code) = (body.GetProperty("conversionId").GetString()!, body.GetProperty("code").GetString()!);
        var cancelled = await _app.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", _shop, Customer),
            new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        // A cancellation does not wake the POS sync itself (the minutely run would); the next order's wake-up runs it now.
        await _app.DeliverAsync("orders/paid", _shop, ShopifyPayloads.Order(9502, Customer, 20m, 20m));

        await WaitForPosAsync("additions", $"{conversion}:reversal");
        await WaitForPosAsync("additions", "order:9502");
        Assert.Equal(["refund:77", conversion], References("deductions"));
    }
}
