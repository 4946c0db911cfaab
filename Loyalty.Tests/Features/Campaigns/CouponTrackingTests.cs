using WireMock.Matchers;

namespace Loyalty.Tests.Features.Campaigns;

/// <summary>Redemptions tracked from orders, every validation reason, and the coupon report.</summary>
public sealed class CouponTrackingTests(AppFixture app) : AppTests<AppFixture>(app)
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/9");
        ShopifySees("ACTIVE");
    }

    private void ShopifySees(string status, int priority = 5, string? code = null) =>
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
                .WithBody(new WildcardMatcher("*FindLoyaltyCode*" + (code is null ? "" : code + "*"))))
            .AtPriority(priority).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { codeDiscountNodeByCode = new { id = "gid://shopify/DiscountCodeNode/9",
                    codeDiscount = new { title = "x", status, asyncUsageCount = 0, usageLimit = (int?)null } } },
            }));

    private Task<long> CampaignAsync(object body) => App.CreateCampaignAsync(Shop, body);

    private async Task<string?> ReasonAsync(string code, long? customer = null)
    {
        var verdict = await (await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/coupons/validate", Shop,
            JsonContent.Create(new { code, customerId = customer })))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(verdict.GetProperty("reason").ValueKind == JsonValueKind.Null, verdict.GetProperty("valid").GetBoolean());
        return verdict.GetProperty("reason").GetString();
    }

    private Task PaidAsync(long orderId, long? customer, string code, decimal discount = 5m, decimal total = 100m) =>
        App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(orderId, customer, total, total, discountCodes: [code])
            .Replace("\"amount\":\"5.00\"", $"\"amount\":\"{discount:0.00}\"", StringComparison.Ordinal));

    /// <summary>
    /// The missed-order sweep finds a paid order of customer 44 (€50.00) that used <paramref name="code"/>, as the Admin API names it:
    /// the code without its amount, and the order's whole discount (€4.00).
    /// </summary>
    private async Task SweepFindsAsync(long orderId, string code)
    {
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*PaidOrders*")))
            .AtPriority(1).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { orders = new { pageInfo = new { hasNextPage = false, endCursor = "c1" }, nodes = new[] { new
                {
                    legacyResourceId = orderId.ToString(System.Globalization.CultureInfo.InvariantCulture), name = $"#{orderId}", test = false,
                    cancelledAt = (string?)null, discountCodes = new[] { code }, customer = new { legacyResourceId = "44" },
                    subtotalPriceSet = new { shopMoney = new { amount = "50.00", currencyCode = "EUR" } },
                    totalPriceSet = new { shopMoney = new { amount = "50.00", currencyCode = "EUR" },
                        presentmentMoney = new { amount = "50.00", currencyCode = "EUR" } },
                    totalDiscountsSet = new { shopMoney = new { amount = "4.00", currencyCode = "EUR" } },
                } } } },
            }));
        await App.Services.GetRequiredService<Loyalty.ShopifyApp.Features.Points.MissedOrderSweep>().SweepShopAsync(Shop, default);
    }

    [Fact]
    public async Task A_redemption_is_recorded_once_per_order_and_shows_in_the_report_and_its_csv()
    {
        var id = await CampaignAsync(new { title = "Summer", fixedAmount = 5, code = "SUMMER5" });

        await PaidAsync(9001, 42, "summer5");
        await PaidAsync(9001, 42, "summer5"); // redelivered

        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM coupon_redemptions WHERE campaign_id = @id", new { id }));
        var report = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/reports/coupons",
            Shop))).Content.ReadFromJsonAsync<JsonElement>();
        var row = report.EnumerateArray().Single(r => r.GetProperty("source").GetString() == "campaign");
        Assert.Equal((1L, 1L, 1m, 5m, 100m), (row.GetProperty("issued").GetInt64(), row.GetProperty("redeemed").GetInt64(),
            row.GetProperty("redemptionRate").GetDecimal(), row.GetProperty("discountGiven").GetDecimal(), row.GetProperty("revenue").GetDecimal()));
        var csv = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/reports/coupons?format=csv",
            Shop))).Content.ReadAsStringAsync();
        Assert.StartsWith("source,campaign_id,title,issued,redeemed", csv);
        Assert.Contains($"campaign,{id},\"Summer\",1,1,1,1,5.00,100.00", csv);
    }

    [Fact]
    public async Task A_codes_usage_history_lists_each_order_that_used_it_from_webhooks_and_the_sweep_and_as_csv()
    {
        var id = await CampaignAsync(new { title = "Summer", fixedAmount = 5, code = "SUMMER5" });
        await PaidAsync(9101, 42, "summer5", discount: 5m, total: 100m);
        await PaidAsync(9102, 43, "SUMMER5", discount: 7.5m, total: 80m);
        // An order whose webhook never came, found by the missed-order sweep.
        await SweepFindsAsync(9103, "Summer5");

        var history = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupons/summer5/redemptions", Shop)))
            .Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(("SUMMER5", id, "Summer", 3L, 16.5m, 230m), (history.GetProperty("code").GetString(),
            history.GetProperty("campaignId").GetInt64(),
            history.GetProperty("campaignTitle").GetString(), history.GetProperty("uses").GetInt64(),
            history.GetProperty("discountGiven").GetDecimal(),
            history.GetProperty("revenue").GetDecimal()));
        Assert.Equal([(9103L, 44L, 4m), (9102L, 43L, 7.5m), (9101L, 42L, 5m)], history.GetProperty("redemptions").EnumerateArray()
            .Select(r => (r.GetProperty("orderId").GetInt64(), r.GetProperty("customerId").GetInt64(),
                r.GetProperty("discountAmount").GetDecimal())).ToList());
        var csv = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupons/SUMMER5/redemptions?format=csv", Shop)))
            .Content.ReadAsStringAsync();
        // The sweep's use carries the order's whole discount as an estimate, and says so.
        Assert.StartsWith("code,order_id,customer_id,discount_amount,amount_estimated,order_amount,redeemed_at\n\"SUMMER5\",9103,44,4.00,true,50.00,",
            csv);
        Assert.Equal(4, csv.TrimEnd('\n').Split('\n').Length);
    }

    [Fact]
    public async Task A_codes_usage_comes_a_page_at_a_time_with_totals_over_every_use()
    {
        await CampaignAsync(new { title = "Summer", fixedAmount = 5, code = "SUMMER5" });
        await PaidAsync(9301, 42, "SUMMER5", discount: 5m, total: 100m);
        await PaidAsync(9302, 43, "SUMMER5", discount: 6m, total: 90m);
        await PaidAsync(9303, 44, "SUMMER5", discount: 7m, total: 80m);
        async Task<JsonElement> PageAsync(string query) => await (await App.Http.SendAsync(App.Admin(HttpMethod.Get,
            "/api/admin/coupons/SUMMER5/redemptions" + query, Shop))).Content.ReadFromJsonAsync<JsonElement>();
        static List<long> Orders(JsonElement page) =>
            [.. page.GetProperty("redemptions").EnumerateArray().Select(r => r.GetProperty("orderId").GetInt64())];

        var first = await PageAsync("?limit=2");
        var second = await PageAsync($"?limit=2&before={first.GetProperty("nextBefore").GetInt64()}");

        Assert.Equal([9303L, 9302L], Orders(first));
        Assert.Equal((3L, 18m, 270m), (first.GetProperty("uses").GetInt64(), first.GetProperty("discountGiven").GetDecimal(),
            first.GetProperty("revenue").GetDecimal()));
        Assert.Equal([9301L], Orders(second));
        Assert.Equal(JsonValueKind.Null, second.GetProperty("nextBefore").ValueKind);
        using var bad = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupons/SUMMER5/redemptions?limit=501", Shop));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        Assert.Contains("\"limit\"", await bad.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_codes_csv_holds_every_use_across_its_export_pages_once_and_newest_first()
    {
        var id = await CampaignAsync(new { title = "Flood", fixedAmount = 5, code = "FLOOD5" });
        await App.ScalarAsync<int>("""
            INSERT INTO coupon_redemptions (shop_domain, code, campaign_id, order_id, customer_id, discount_amount, order_amount)
            SELECT @shop, 'FLOOD5', @id, 100000 + n, n % 50, 5, 20 FROM generate_series(1, 2001) n;
            SELECT 1
            """, new { shop = Shop, id }); // two export pages of a thousand and one more

        var csv = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupons/FLOOD5/redemptions?format=csv", Shop)))
            .Content.ReadAsStringAsync();

        var orders = csv.TrimEnd('\n').Split('\n').Skip(1).Select(line => long.Parse(line.Split(',')[1])).ToList();
        Assert.Equal(2001, orders.Count);
        Assert.Equal(Enumerable.Range(1, 2001).Select(n => 100000L + n).Reverse(), orders);
    }

    [Fact]
    public async Task A_use_the_sweep_recorded_with_an_estimate_takes_the_exact_amount_when_the_orders_webhook_comes_later()
    {
        await CampaignAsync(new { title = "Summer", fixedAmount = 5, code = "SUMMER5" });
        await App.ScalarAsync<int>("""
            INSERT INTO event_endpoints (shop_domain, url, secret_protected) VALUES (@shop, 'https://events.invalid/loyalty', 'unused') RETURNING 1
            """, new { shop = Shop }); // so the shop's events are recorded

        // The sweep finds the order first: the Admin API gives the order's whole discount (4.00, shipping included), not the code's.
        await SweepFindsAsync(9201, "SUMMER5");

        await PaidAsync(9201, 44, "SUMMER5", discount: 3m, total: 50m); // the webhook, late, with what the code took off
        await PaidAsync(9201, 44, "SUMMER5", discount: 3m, total: 50m); // and again

        var history = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupons/SUMMER5/redemptions", Shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((1L, 3m), (history.GetProperty("uses").GetInt64(), history.GetProperty("discountGiven").GetDecimal()));
        Assert.Equal((3m, false), (history.GetProperty("redemptions")[0].GetProperty("discountAmount").GetDecimal(),
            history.GetProperty("redemptions")[0].GetProperty("amountEstimated").GetBoolean()));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM outgoing_events WHERE shop_domain = @shop AND type = 'coupon.redeemed'",
            new { shop = Shop })); // announced once, when the sweep found it
    }

    [Theory]
    [InlineData("NO-SUCH-CODE", HttpStatusCode.NotFound, "coupon_not_found")]
    [InlineData("%20", HttpStatusCode.UnprocessableEntity, "invalid_code")]
    public async Task A_code_the_app_did_not_make_has_no_usage_history(string code, HttpStatusCode status, string problem)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/coupons/{code}/redemptions", Shop));

        Assert.Equal(status, response.StatusCode);
        Assert.Equal(problem, (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task Formulas_in_a_campaign_stay_inert_text_in_its_codes_csv_and_the_report_csv()
    {
        var formula = await CampaignAsync(new { title = "=HYPERLINK(\"https://evil.example\",\"Summer\")", fixedAmount = 5, code = "-SUMMER" });
        var number = await CampaignAsync(new { title = "@SUM(A1:A9), again", fixedAmount = 5, code = "-100" });

        async Task<string> Csv(string path) => await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, path, Shop))).Content.ReadAsStringAsync();
        Assert.Equal("code,state,error\n\"'-SUMMER\",created,\n", await Csv($"/api/admin/campaigns/{formula}/codes.csv"));
        Assert.Equal("code,state,error\n\"-100\",created,\n", await Csv($"/api/admin/campaigns/{number}/codes.csv")); // a number, not a formula
        var report = await Csv("/api/admin/reports/coupons?format=csv");
        Assert.Contains($"campaign,{formula},\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"Summer\"\")\",1,0,", report);
        Assert.Contains($"campaign,{number},\"'@SUM(A1:A9), again\",1,0,", report);
    }

    [Fact]
    public async Task Each_reason_a_code_cannot_be_used_is_told_apart()
    {
        await CampaignAsync(new { title = "Later", fixedAmount = 5, code = "LATER5", startsAt = DateTimeOffset.UtcNow.AddDays(3),
            endsAt = DateTimeOffset.UtcNow.AddDays(9) });
        await CampaignAsync(new { title = "Gone", fixedAmount = 5, code = "GONE5", startsAt = DateTimeOffset.UtcNow.AddDays(-9),
            endsAt = DateTimeOffset.UtcNow.AddDays(-1) });
        await CampaignAsync(new { title = "Once", fixedAmount = 5, code = "ONCE5", usageLimit = 1 });
        await CampaignAsync(new { title = "VIP", fixedAmount = 5, code = "VIP5", customerIds = new[] { 5L } });
        await CampaignAsync(new { title = "Each", fixedAmount = 5, code = "EACH5", oncePerCustomer = true });
        await CampaignAsync(new { title = "Open", fixedAmount = 5, code = "OPEN5" });
        await CampaignAsync(new { title = "Ended there", fixedAmount = 5, code = "ENDED5" });
        await PaidAsync(9101, 77, "ONCE5");
        await PaidAsync(9102, 77, "EACH5");
        ShopifySees("EXPIRED", priority: 1, code: "ENDED5");

        Assert.Equal("not_found", await ReasonAsync("NOPE"));
        Assert.Equal("not_started", await ReasonAsync("LATER5"));
        Assert.Equal("expired", await ReasonAsync("GONE5"));
        Assert.Equal("usage_limit_reached", await ReasonAsync("once5"));
        Assert.Equal("not_eligible", await ReasonAsync("VIP5", 6));
        Assert.Null(await ReasonAsync("VIP5", 5));
        Assert.Equal("already_used", await ReasonAsync("EACH5", 77));
        Assert.Null(await ReasonAsync("EACH5", 78));
        Assert.Null(await ReasonAsync("OPEN5"));
        Assert.Equal("expired", await ReasonAsync("ENDED5")); // Shopify's view overrules our records
    }

    [Fact]
    public async Task A_customer_on_the_storefront_can_check_a_code_and_never_someone_elses_loyalty_coupon()
    {
        await CampaignAsync(new { title = "Open", fixedAmount = 5, code = "OPEN5" });
        await App.ScalarAsync<int>("""
            INSERT INTO conversions (id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code,
                                     expires_at, coupon_status, metafield_synced_at, completed_at)
            VALUES ('conv_AAAAAAAAAAAAAAAAAAAAAAAA', @shop, 777, 'k', 500, 500, 'EUR', 'ledger', 'completed', '777-ABCDEF-500',
                    now() + interval '30 days', 'active', now(), now())
            """, new { shop = Shop });

        async Task<string?> StorefrontReasonAsync(string code, long customer) => (await (await App.Http.PostAsync(
                LoyaltyApp.ProxyPath("/proxy/api/coupons/validate", Shop, customer),
                new StringContent(JsonSerializer.Serialize(new { code }), Encoding.UTF8, "application/json")))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("reason").GetString();

        Assert.Null(await StorefrontReasonAsync("OPEN5", 1));
        Assert.Null(await StorefrontReasonAsync("777-ABCDEF-500", 777));
        Assert.Equal("not_found", await StorefrontReasonAsync("777-ABCDEF-500", 888)); // not told apart from a code that does not exist
        await PaidAsync(9201, 777, "777-ABCDEF-500");
        Assert.Equal("already_used", await StorefrontReasonAsync("777-ABCDEF-500", 777));
    }

    [Fact]
    public async Task A_campaign_change_and_deactivation_go_to_Shopify_first_and_keep_the_history()
    {
        var id = await CampaignAsync(new { title = "Summer", fixedAmount = 5, code = "SUMMER7" });
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*UpdateCampaign*")))
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(
                new { data = new { discountCodeBasicUpdate = new { codeDiscountNode = new { id = "x" }, userErrors = Array.Empty<object>() } } }));
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(
            new WildcardMatcher("*DeactivateCampaign*")))
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(
                new { data = new { discountCodeDeactivate = new { codeDiscountNode = new { id = "x" }, userErrors = Array.Empty<object>() } } }));

        var bad = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/campaigns/{id}", Shop, JsonContent.Create(new { usageLimit = 0 })));
        var changed = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/campaigns/{id}", Shop,
            JsonContent.Create(new { title = "Summer sale", usageLimit = 300 })));
        var deleted = await App.Http.SendAsync(App.Admin(HttpMethod.Delete, $"/api/admin/campaigns/{id}", Shop));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        var update = JsonDocument.Parse(Shopify.OperationBodies(Shop, "UpdateCampaign").Single()).RootElement.GetProperty("variables");
        Assert.Equal(("gid://shopify/DiscountCodeNode/9", $"Summer sale (campaign {id})", 300),
            (update.GetProperty("id").GetString(), update.GetProperty("input").GetProperty("title").GetString(),
                update.GetProperty("input").GetProperty("usageLimit").GetInt32()));
        Assert.Equal("deactivated", (await deleted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        Assert.Single(Shopify.OperationBodies(Shop, "DeactivateCampaign"));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM campaign_codes WHERE campaign_id = @id", new { id }));
        Assert.Equal("expired", await ReasonAsync("SUMMER7"));
    }

    private async Task<JsonElement> CheckAsync(string code, decimal? subtotal)
    {
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/coupons/validate", Shop,
            JsonContent.Create(new { code, subtotal })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task A_check_says_what_a_code_takes_off_a_given_cart_and_refuses_a_cart_below_its_minimum()
    {
        await CampaignAsync(new { title = "Tenth", percentage = 10, code = "TENTH", minimumSubtotal = 50 });
        await CampaignAsync(new { title = "Five", fixedAmount = 5, code = "FIVE" });

        var tenth = await CheckAsync("tenth", 123.45m);
        Assert.Equal((true, "percentage", 10m, "EUR", 50m, 12.35m), (tenth.GetProperty("valid").GetBoolean(),
            tenth.GetProperty("discountType").GetString(), tenth.GetProperty("value").GetDecimal(), tenth.GetProperty("currency").GetString(),
            tenth.GetProperty("minimumSubtotal").GetDecimal(), tenth.GetProperty("amountOff").GetDecimal())); // 10 % of 123.45, rounded
        var small = await CheckAsync("TENTH", 40m);
        Assert.Equal((false, "minimum_not_met", 0m), (small.GetProperty("valid").GetBoolean(), small.GetProperty("reason").GetString(),
            small.GetProperty("amountOff").GetDecimal()));
        Assert.Equal(3m, (await CheckAsync("FIVE", 3m)).GetProperty("amountOff").GetDecimal()); // never more than the cart
        Assert.Equal(JsonValueKind.Null, (await CheckAsync("FIVE", null)).GetProperty("amountOff").ValueKind); // no cart, no amount
        var unknown = await CheckAsync("NOPE", 100m);
        Assert.Equal(("not_found", JsonValueKind.Null, JsonValueKind.Null), (unknown.GetProperty("reason").GetString(),
            unknown.GetProperty("discountType").ValueKind, unknown.GetProperty("amountOff").ValueKind));

        using var bad = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/coupons/validate", Shop,
            JsonContent.Create(new { code = "FIVE", subtotal = -1 })));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, bad.StatusCode);
        var problem = await bad.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid_subtotal", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty("subtotal", out _));
    }

    [Fact]
    public async Task A_NUL_character_in_a_code_to_check_is_refused_with_a_field_error()
    {
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/coupons/validate", Shop,
            new StringContent("""{"code":"SUMMER\u0000"}""", Encoding.UTF8, "application/json")));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty("code", out _), body);
    }
}
