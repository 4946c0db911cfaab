namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// Leaks found by reading the saga line by line (issue 12): each test failed on the code before its fix. The
/// simulator-backed ones, judged by Shopify's own record, are in <c>Sandbox/GroundTruthTests</c>.
/// </summary>
public sealed class MoneyLeakTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    private async Task<(string Id, string Code)> ConvertedAsync(long points, string key)
    {
        var body = await (await ConvertAsync(points, key)).Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("conversionId").GetString()!, body.GetProperty("code").GetString()!);
    }

    private Task<HttpResponseMessage> CancelAsync(string code) =>
        App.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", Shop, Customer),
            new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));

    [Fact]
    public async Task Cancelling_a_coupon_Shopify_counts_as_used_is_refused_and_the_points_stay_spent()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var (id, code) = await ConvertedAsync(500, "used-1");
        // The customer paid with the code; orders/paid has not arrived (or never will). Shopify knows.
        Shopify.StubFindCode(Shop, "gid://shopify/DiscountCodeNode/1001", $"Loyalty reward: 500 points ({id})", usageCount: 1);

        var response = await CancelAsync(code);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Equal("coupon_used", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal((0, 500L), (Deletes, (long)await App.BalanceAsync(Shop, Customer)));
        Assert.Equal("used", await App.ScalarAsync<string>("SELECT coupon_status FROM conversions WHERE id = @id", new { id }));
    }

    [Fact]
    public async Task An_order_that_used_a_coupon_already_cancelled_goes_to_the_merchant_with_the_amount_at_stake()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var (id, code) = await ConvertedAsync(500, "late-order");
        Assert.Equal(HttpStatusCode.OK, (await CancelAsync(code)).StatusCode); // points back: 1000

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8101, Customer, 600m, 100m, discountCodes: [code]));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8101, Customer, 600m, 100m, discountCodes: [code]), "resend-8101");

        var incidents = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupon-incidents", Shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        var incident = Assert.Single(incidents.EnumerateArray());
        Assert.Equal((id, 8101L, 500m, 500L), (incident.GetProperty("conversionId").GetString(), incident.GetProperty("orderId").GetInt64(),
            incident.GetProperty("amount").GetDecimal(), incident.GetProperty("points").GetInt64()));
        Assert.Equal("used_after_cancel", incident.GetProperty("kind").GetString());

        var resolve = () => App.Http.SendAsync(App.Admin(HttpMethod.Post,
            $"/api/admin/coupon-incidents/{incident.GetProperty("id").GetInt64()}/resolve", Shop,
            JsonContent.Create(new { resolution = "Took the 500 points back by hand" })));
        Assert.Equal(HttpStatusCode.OK, (await resolve()).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await resolve()).StatusCode);
        var open = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupon-incidents?resolved=false", Shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(0, open.GetArrayLength());
    }

    [Fact]
    public async Task The_same_idempotency_key_sent_twice_at_once_never_answers_500()
    {
        await GiveAsync(10_000);
        Shopify.StubDiscountCreate(Shop);

        for (var i = 0; i < 6; i++)
        {
            var key = $"twice-{i}";
            var answers = await Task.WhenAll(ConvertAsync(100, key), ConvertAsync(100, key));

            Assert.All(answers, a => Assert.True(a.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK or HttpStatusCode.Accepted
                                                    || a.StatusCode == HttpStatusCode.Conflict
                                                        && a.Content.ReadAsStringAsync().Result.Contains("conversion_in_progress"),
                $"{key}: {(int)a.StatusCode} {a.Content.ReadAsStringAsync().Result}"));
        }
        await ReconcileAsync();
        Assert.Equal(6, Creates);
        Assert.Equal(10_000 - 600, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task The_balance_source_cannot_be_switched_while_a_conversion_may_have_deducted_at_the_POS()
    {
        await UsePosAsync(balance: 1000);
        var id = await LeftBehindAsync("settling", discountId: "gid://shopify/DiscountCodeNode/6", balanceSource: "pos");

        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { balanceSource = "ledger" })));

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("conversions_in_flight", 1L), (problem.GetProperty("code").GetString(), problem.GetProperty("inFlight").GetInt64()));
        Assert.Equal("pos", await App.ScalarAsync<string>("SELECT balance_source FROM shop_settings WHERE shop_domain = @shop", new { shop = Shop }));
        Assert.Equal("settling", await StateAsync(id));
        // Other settings can still change meanwhile.
        Assert.Equal(HttpStatusCode.OK, (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { earnRate = 2 })))).StatusCode);
    }

    [Fact]
    public async Task A_POS_saved_while_the_balance_is_being_read_stops_the_conversion_before_anything_is_deducted_at_the_old_one()
    {
        await SetAsync(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = "pos-key" });
        Shopify.StubDiscountCreate(Shop);
        var reading = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // The balance read is held at the POS (its matcher runs as it arrives) until the merchant has saved; should that outlast the
        // client's attempt, its retry is answered at once.
        var saved = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Pos.Given(WireMock.RequestBuilders.Request.Create().UsingGet().WithPath(path => path == $"/customers/{Customer}/points"
                && Held(reading, saved)))
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200)
                .WithBodyAsJson(new { customerId = Customer.ToString(), balance = 1000 }));

        var converting = ConvertAsync(100, "moved-pos");
        await reading.Task.WaitAsync(TimeSpan.FromSeconds(10));
        var save = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { posBaseUrl = Pos.Url + "/moved", posApiKey = "pos-key" })));
        Assert.True(save.IsSuccessStatusCode, await save.Content.ReadAsStringAsync()); // nothing in flight yet: the merchant may
        saved.TrySetResult();
        var answer = await converting;

        Assert.True(answer.StatusCode == HttpStatusCode.Conflict, await answer.Content.ReadAsStringAsync());
        Assert.Equal("settings_changed", (await answer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Empty(PosDeductions); // not at the POS the shop left, nor anywhere
        Assert.Equal(0, Creates);
    }

    private static bool Held(TaskCompletionSource arrived, TaskCompletionSource release)
    {
        arrived.TrySetResult();
        release.Task.Wait(TimeSpan.FromSeconds(1.5));
        return true;
    }

    [Fact]
    public async Task A_coupon_created_after_a_5xx_is_found_later_and_completes_instead_of_being_orphaned()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreateStatus(Shop, 503); // Shopify applied it, but answered 503

        var response = await ConvertAsync(500, "applied-anyway");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString()!;
        Shopify.StubFindCode(Shop, "gid://shopify/DiscountCodeNode/4242", $"Loyalty reward: 500 points ({id})", priority: 1);
        await ReconcileAsync();

        Assert.Equal("completed", await StateAsync(id));
        Assert.Equal("gid://shopify/DiscountCodeNode/4242", await App.ScalarAsync<string>("SELECT discount_id FROM conversions WHERE id = @id",
            new { id }));
        Assert.Equal((1, 0, 500L), (Creates, Deletes, (long)await App.BalanceAsync(Shop, Customer)));
    }

    [Fact]
    public async Task An_answer_of_an_unexpected_shape_during_a_cancellation_is_waited_out_never_a_500_nor_a_refund()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var (_, code) = await ConvertedAsync(500, "odd-answer");
        Shopify.ResetMappings(Shop);
        Shopify.StubShopDetails(Shop); // every GraphQL call now gets an answer that is not the one asked for

        var response = await CancelAsync(code);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
        Assert.Equal(0, Deletes);
    }
}
