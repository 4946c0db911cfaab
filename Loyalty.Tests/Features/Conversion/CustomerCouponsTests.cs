namespace Loyalty.Tests.Features.Conversion;

/// <summary>The customer's coupons: listed with their status, marked used by orders, cancelled for the points back once.</summary>
public sealed class CustomerCouponsTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    private async Task<string> ConvertedCodeAsync(long points, string key)
    {
        var response = await ConvertAsync(points, key);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;
    }

    private async Task<JsonElement> CouponsAsync() =>
        await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/coupons", Shop, Customer));

    private Task<HttpResponseMessage> CancelAsync(string code) =>
        App.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", Shop, Customer),
            new StringContent("{}", Encoding.UTF8, "application/json"));

    [Fact]
    public async Task A_coupon_used_in_a_paid_order_shows_as_used_and_the_metafield_follows()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var code = await ConvertedCodeAsync(500, "c1");
        Assert.Equal("active", (await CouponsAsync())[0].GetProperty("status").GetString());

        var order = ShopifyPayloads.Order(8001, Customer, 600m, 600m, discountCodes: [code.ToLowerInvariant()]);
        await App.DeliverAsync("orders/paid", Shop, order);
        await App.DeliverAsync("orders/paid", Shop, order); // a redelivery changes nothing

        Assert.Equal("used", (await CouponsAsync())[0].GetProperty("status").GetString());
        await ReconcileAsync();
        var last = Shopify.OperationBodies(Shop, "SetLoyaltyCoupons")[^1];
        var list = JsonDocument.Parse(JsonDocument.Parse(last).RootElement.GetProperty("variables").GetProperty("metafields")[0].GetProperty(
            "value").GetString()!);
        Assert.Equal("used", list.RootElement[0].GetProperty("status").GetString());
        Assert.Equal(8001L, await App.ScalarAsync<long>("SELECT used_order_id FROM conversions WHERE code = @code", new { code }));
    }

    [Fact]
    public async Task Cancelling_an_unused_coupon_deletes_it_first_and_gives_the_points_back_once()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var code = await ConvertedCodeAsync(500, "c2");
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));

        var first = await CancelAsync(code);
        var again = await CancelAsync(code);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(1000, (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("balance").GetInt64());
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(1, Deletes);
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
        Assert.Equal("cancelled", (await CouponsAsync())[0].GetProperty("status").GetString());
        Assert.Equal(1L,
            await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE shop_domain = @shop AND kind = 'conversion_reversal'",
            new { shop = Shop }));
    }

    [Fact]
    public async Task A_used_or_expired_coupon_cannot_be_cancelled()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var used = await ConvertedCodeAsync(500, "c3");
        // a guest checkout with the code: marks it used without earning points
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8002, null, 600m, 600m, discountCodes: [used]));
        var expired = await ConvertedCodeAsync(100, "c4");
        await App.ScalarAsync<int>("UPDATE conversions SET expires_at = now() - interval '1 day' WHERE code = @expired", new { expired });

        var usedResponse = await CancelAsync(used);
        var expiredResponse = await CancelAsync(expired);

        Assert.Contains("coupon_used", await usedResponse.Content.ReadAsStringAsync());
        Assert.Contains("coupon_expired", await expiredResponse.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NotFound, (await CancelAsync("777-NOSUCH-100")).StatusCode);
        Assert.Equal(0, Deletes);
        Assert.Equal(400, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task A_cancellation_Shopify_cannot_finish_now_is_finished_by_the_reconciler_with_the_points_back_once()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var code = await ConvertedCodeAsync(500, "c5");
        Shopify.ResetMappings(Shop);
        Shopify.Server.Given(WireMock.RequestBuilders.Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(503));

        var response = await CancelAsync(code);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer)); // not before the coupon is gone
        Shopify.ResetMappings(Shop);
        Shopify.StubDiscountDelete(Shop);
        Shopify.StubDiscountDeactivate(Shop);
        Shopify.StubFindCode(Shop, null);
        Shopify.StubCouponsMetafield(Shop);
        Shopify.StubMetafieldsSet(Shop);
        await ReconcileAsync();
        await ReconcileAsync();

        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
        Assert.Equal("cancelled", (await CouponsAsync())[0].GetProperty("status").GetString());
    }
}
