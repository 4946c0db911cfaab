using WireMock.Matchers;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// Changes the POS refuses for good (it answered, and did not apply them): they must not hold back the
/// customer's later changes; each stays visible with its reason and the drift it leaves, and can be retried.
/// </summary>
public sealed class PosRefusalTests(PosRefusalTests.RefusalApp app) : PosSyncTestBase<PosRefusalTests.RefusalApp>(app)
{
    private const long Customer = 777;

    public sealed class RefusalApp() : PosSyncApp(new() { ["PosSync:MaxAttempts"] = "3" });

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Shopify.StubCouponsMetafield(Shop);
        Shopify.StubMetafieldsSet(Shop);
        Shopify.StubDiscountDelete(Shop);
        Shopify.StubDiscountDeactivate(Shop);
        Shopify.StubFindCode(Shop, null);
    }

    /// <summary>How the POS answers an addition or deduction: for one reference, or (null) for any other.</summary>
    private void Answer(string kind, string? reference, int status, object body)
    {
        var request = Request.Create().WithPath($"/customers/{Customer}/points/{kind}").UsingPost();
        if (reference is not null) request = request.WithBody(new WildcardMatcher($"*\"reference\":\"{reference}\"*"));
        Pos.Given(request).AtPriority(reference is null ? 100 : 1)
            .RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(body));
    }

    private static object Tx(long points) => new { transactionId = "t_" + Guid.NewGuid().ToString("N"), reference = "r", points, balance = 1000 };

    private async Task WaitForPosAsync(string kind, string reference, int times = 1)
    {
        try
        {
            await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(References(kind).Count(r => r == reference) >= times),
                $"{reference} POSTed {times}x to {kind}", 20000);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; {await DiagnosticsAsync()}");
        }
    }

    private async Task<JsonElement> GetAsync(string path)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, path, Shop));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private async Task<HttpResponseMessage> RetryAsync(long id) =>
        await App.Http.SendAsync(App.Admin(HttpMethod.Post, $"/api/admin/pos-sync/{id}/retry", Shop));

    [Fact]
    public async Task An_addition_for_a_customer_the_POS_does_not_know_does_not_hold_back_that_customers_later_changes()
    {
        Answer("additions", "order:9401", 404, new { error = "customer_not_found" });
        Answer("additions", null, 201, Tx(30));

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9401, Customer, 50m, 50m));
        await WaitForPosAsync("additions", "order:9401");
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9402, Customer, 30m, 30m));

        await WaitForPosAsync("additions", "order:9402"); // the refused award does not hold it back
        Assert.Equal(["order:9401", "order:9402"], References("additions"));

        // The merchant sees the refusal, its reason and the drift it leaves: the POS lacks 50 of the ledger's 80 points.
        await WaitForStateAsync("order:9402", "delivered");
        var refused = Assert.Single((await GetAsync("/api/admin/pos-sync?state=refused")).EnumerateArray());
        Assert.Equal(("order:9401", "customer_not_found", 404, 50L), (refused.GetProperty("reference").GetString(),
            refused.GetProperty("refusalCode").GetString(), refused.GetProperty("refusalStatus").GetInt32(),
            refused.GetProperty("customerDrift").GetInt64()));
        Assert.Contains("customer_not_found", refused.GetProperty("lastError").GetString());
        var drift = Assert.Single((await GetAsync("/api/admin/pos-sync/drift")).EnumerateArray());
        Assert.Equal((Customer, 80L, 50L, 50L, 0L, 1), (drift.GetProperty("customerId").GetInt64(), drift.GetProperty("ledgerBalance").GetInt64(),
            drift.GetProperty("drift").GetInt64(), drift.GetProperty("refusedAdditions").GetInt64(),
            drift.GetProperty("refusedDeductions").GetInt64(),
            drift.GetProperty("refusals").GetInt32()));

        // The merchant creates the customer in the POS and retries: the same reference is sent again, and the drift is gone.
        Pos.ResetMappings();
        Answer("additions", null, 201, Tx(50));
        Assert.Equal(HttpStatusCode.NoContent, (await RetryAsync(refused.GetProperty("id").GetInt64())).StatusCode);
        await WaitForStateAsync("order:9401", "delivered");
        Assert.Equal(["order:9401", "order:9402", "order:9401"], References("additions"));
        Assert.Empty((await GetAsync("/api/admin/pos-sync/drift")).EnumerateArray());
        Assert.Equal(HttpStatusCode.Conflict, (await RetryAsync(refused.GetProperty("id").GetInt64())).StatusCode); // delivered: nothing to retry
    }

    [Fact]
    public async Task A_clawback_the_POS_refuses_does_not_hold_back_a_cancelled_coupons_points_or_a_later_award()
    {
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 1000 }));
        Answer("additions", null, 201, Tx(100));
        Answer("deductions", "refund:77", 422, new { error = "insufficient_points", balance = 0 }); // spent in the store already
        Answer("deductions", null, 201, Tx(-500));
        Shopify.StubDiscountCreate(Shop);

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9501, Customer, 100m, 100m));
        await WaitForPosAsync("additions", "order:9501");
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(77, 9501, 50m));
        await WaitForPosAsync("deductions", "refund:77");

        // The customer turns 500 points into a coupon (deducted at the POS directly), then cancels it: the points go back
        // through the POS sync.
        using var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, Customer))
        {
            Content = new StringContent("""{"points":500}""", Encoding.UTF8, "application/json"),
        };
        convert.Headers.Add("Idempotency-Key", "refusal-c1");
        var converted = await App.ConversionSettledAsync(await App.Http.SendAsync(convert));
        Assert.Equal(HttpStatusCode.Created, converted.StatusCode);
        var body = await converted.Content.ReadFromJsonAsync<JsonElement>();
        var (conversion, code) = (body.GetProperty("conversionId").GetString()!, body.GetProperty("code").GetString()!);
        var cancelled = await App.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", Shop, Customer),
            new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        // A cancellation does not wake the POS sync itself (the minutely run would); the next order's wake-up runs it now.
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9502, Customer, 20m, 20m));

        await WaitForPosAsync("additions", $"{conversion}:reversal");
        await WaitForPosAsync("additions", "order:9502");
        Assert.Equal(["refund:77", conversion], References("deductions"));

        // The refused clawback is drift the other way: the POS still holds 50 points the ledger took back.
        var refused = Assert.Single((await GetAsync("/api/admin/pos-sync?state=refused")).EnumerateArray());
        Assert.Equal(("refund:77", "insufficient_points", 422, -50L), (refused.GetProperty("reference").GetString(),
            refused.GetProperty("refusalCode").GetString(), refused.GetProperty("refusalStatus").GetInt32(),
            refused.GetProperty("customerDrift").GetInt64()));
        var drift = Assert.Single((await GetAsync("/api/admin/pos-sync/drift")).EnumerateArray());
        Assert.Equal((-50L, 0L, -50L), (drift.GetProperty("drift").GetInt64(), drift.GetProperty("refusedAdditions").GetInt64(),
            drift.GetProperty("refusedDeductions").GetInt64()));
    }

    [Fact]
    public async Task A_refused_clawback_is_not_spendable_in_a_conversion()
    {
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 500 }));
        Answer("additions", null, 201, Tx(100));
        Answer("deductions", "refund:78", 422, new { error = "insufficient_points", balance = 0 });
        Shopify.StubDiscountCreate(Shop);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9701, Customer, 100m, 100m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(78, 9701, 100m));
        await WaitForStateAsync("refund:78", "refused");

        // The POS says 500, but 100 of them were taken back by the refund and are owed until the clawback goes through.
        using var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, Customer))
        {
            Content = new StringContent("""{"points":500}""", Encoding.UTF8, "application/json"),
        };
        convert.Headers.Add("Idempotency-Key", "refusal-c2");
        var response = await App.Http.SendAsync(convert);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("insufficient_points", 400L), (problem.GetProperty("code").GetString(), problem.GetProperty("balance").GetInt64()));
    }

    [Fact]
    public async Task A_row_that_keeps_failing_is_parked_and_still_holds_back_later_rows_until_it_is_retried()
    {
        // A refused API key is no refusal of the change: it is retried like an outage, then parked, and its outcome is
        // not a settled refusal, so the customer's later rows wait behind it.
        Answer("additions", null, 401, new { error = "unauthorized" });
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9601, Customer, 40m, 40m));
        await WaitForStateAsync("order:9601", "parked");
        Assert.Equal(3, References("additions").Count);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9602, Customer, 10m, 10m));
        await Task.Delay(500);
        Assert.Equal("pending", await StateAsync("order:9602"));
        Assert.Empty((await GetAsync("/api/admin/pos-sync?state=refused")).EnumerateArray());

        // The merchant fixes the key and retries the parked row: both go through, in order.
        Pos.ResetMappings();
        Answer("additions", null, 201, Tx(40));
        var parked = Assert.Single((await GetAsync("/api/admin/pos-sync?state=parked")).EnumerateArray());
        Assert.Contains("API key", parked.GetProperty("lastError").GetString());
        Assert.Equal(HttpStatusCode.NoContent, (await RetryAsync(parked.GetProperty("id").GetInt64())).StatusCode);
        await WaitForStateAsync("order:9602", "delivered");
        Assert.Equal(["order:9601", "order:9601", "order:9601", "order:9601", "order:9602"], References("additions"));
    }
}
