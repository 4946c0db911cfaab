namespace Loyalty.Tests.Features.Points;

/// <summary>orders/paid earns points once per order, whatever Shopify redelivers, and skips what should not earn.</summary>
public sealed class OrderAwardTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private async Task SetAsync(object settings)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop, JsonContent.Create(settings)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>
    /// The merchant earns 2 on the subtotal, then changes to 5 on the total; returns a time while 2 was in force. Shopify's times
    /// have whole seconds, so a second passes on each side of it.
    /// </summary>
    private async Task<DateTimeOffset> RateTwoThenFiveOnTheTotalAsync()
    {
        await SetAsync(new { earnRate = 2m });
        await Task.Delay(1100);
        var whileTwo = DateTimeOffset.UtcNow;
        await Task.Delay(1100);
        await SetAsync(new { earnRate = 5m, earnBasis = "total" });
        await Task.Delay(1100);
        return whileTwo;
    }

    private Task<string?> SkipReasonAsync(long orderId) => App.ScalarAsync<string>(
        "SELECT skip_reason FROM order_earnings WHERE shop_domain = @shop AND order_id = @orderId", new { shop = Shop, orderId });

    [Fact]
    public async Task A_paid_order_awards_floor_of_the_discounted_subtotal_times_the_rate()
    {
        await SetAsync(new { earnRate = 1.5m });

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(5512345, 777, subtotal: 123.45m, total: 140.00m));

        Assert.Equal(185, await App.BalanceAsync(Shop, 777)); // floor(123.45 × 1.5) = floor(185.175)
        var row = await App.ScalarAsync<string>("""
            SELECT kind || '|' || reference || '|' || rate::text || '|' || basis_amount::text || '|' || currency FROM point_transactions
            WHERE shop_domain = @shop AND customer_id = 777
            """, new { shop = Shop });
        Assert.Equal("order_award|order:5512345|1.5000|123.4500|EUR", row);

        var me = await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, 777));
        Assert.Equal(185, me.GetProperty("balance").GetInt64());
        Assert.Equal(185, me.GetProperty("totalEarned").GetInt64());
        Assert.Equal("order_award", me.GetProperty("history")[0].GetProperty("kind").GetString());
    }

    [Fact]
    public async Task A_new_shop_earns_nothing_until_its_merchant_sets_a_rate_and_then_earns_on_the_order_total()
    {
        var shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop, earningOff: true); // a merchant who has not opened the settings yet

        var settings = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/settings", shop));
        var view = await settings.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((0m, "total"), (view.GetProperty("earnRate").GetDecimal(), view.GetProperty("earnBasis").GetString()));

        await App.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(7001, 777, subtotal: 100m, total: 119.99m));
        Assert.Equal(0, await App.BalanceAsync(shop, 777));
        Assert.Equal("earning is off (rate 0)", await App.ScalarAsync<string>(
            "SELECT skip_reason FROM order_earnings WHERE shop_domain = @shop AND order_id = 7001", new { shop }));

        using var put = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", shop, JsonContent.Create(new { earnRate = 1m })));
        Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        await Task.Delay(1100); // Shopify's processed_at has whole seconds: this order is paid after the rate was set
        await App.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(7002, 777, subtotal: 100m, total: 119.99m,
            processedAt: DateTimeOffset.UtcNow));

        Assert.Equal(119, await App.BalanceAsync(shop, 777)); // floor(119.99 × 1), on the total the default basis names
        Assert.Equal("earning is off (rate 0)", await App.ScalarAsync<string>(
            "SELECT skip_reason FROM order_earnings WHERE shop_domain = @shop AND order_id = 7001", new { shop })); // not re-priced
    }

    [Fact]
    public async Task An_order_earns_at_the_rate_in_force_when_it_was_processed_not_when_its_webhook_is_handled()
    {
        var between = await RateTwoThenFiveOnTheTotalAsync();

        // Paid while the rate was 2 (on the subtotal), handled after the merchant changed it: it keeps the rate of then. Shopify
        // triggers orders/paid when the order is paid and says when in X-Shopify-Triggered-At, on every retry alike.
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(6101, 777, subtotal: 10m, total: 12m, processedAt: between),
            triggeredAt: between);
        // Paid after the change: the new rate and basis.
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(6102, 778, subtotal: 10m, total: 12m, processedAt: DateTimeOffset.UtcNow));
        // Paid before the shop saved any rule: the defaults of then.
        var dayBefore = DateTimeOffset.UtcNow.AddDays(-1);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(6103, 779, subtotal: 10m, total: 12m, processedAt: dayBefore),
            triggeredAt: dayBefore);

        // An order created now that claims it was processed back then (an app or staff member may set processed_at): the rule
        // of when Shopify created it, not the better one of a past it names.
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(6104, 780, subtotal: 10m, total: 12m, processedAt: between,
            createdAt: DateTimeOffset.UtcNow), triggeredAt: between);

        Assert.Equal((20L, 60L, 10L), (await App.BalanceAsync(Shop, 777), await App.BalanceAsync(Shop, 778), await App.BalanceAsync(Shop, 779)));
        Assert.Equal(60L, await App.BalanceAsync(Shop, 780));
        Assert.Equal("2.0000|subtotal", await App.ScalarAsync<string>(
            "SELECT rate::text || '|' || basis FROM order_earnings WHERE shop_domain = @shop AND order_id = 6101", new { shop = Shop }));
    }

    [Fact]
    public async Task A_pay_later_order_earns_at_the_rate_in_force_when_it_was_paid_not_when_it_was_placed()
    {
        var placed = await RateTwoThenFiveOnTheTotalAsync();

        // Placed on payment terms (net 30) while the rate was 2; the customer paid after the merchant changed it.
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(6201, 777, subtotal: 10m, total: 12m, processedAt: placed),
            triggeredAt: DateTimeOffset.UtcNow);
        // The header is not signed: a trigger time before the order was processed counts as the processed time, and one after the
        // order was last updated (as it was when paid) counts as that.
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(6202, 778, subtotal: 10m, total: 12m, processedAt: placed),
            triggeredAt: placed.AddDays(-1));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(6203, 779, subtotal: 10m, total: 12m, processedAt: placed,
            updatedAt: placed), triggeredAt: DateTimeOffset.UtcNow.AddDays(1));

        Assert.Equal((60L, 20L, 20L), (await App.BalanceAsync(Shop, 777), await App.BalanceAsync(Shop, 778), await App.BalanceAsync(Shop, 779)));
        // Each order says when it was priced and what said so.
        Assert.Equal("paid|paid|paid", await App.ScalarAsync<string>("""
            SELECT string_agg(priced_by, '|' ORDER BY order_id) FROM order_earnings WHERE shop_domain = @shop AND order_id IN (6201, 6202, 6203)
            """, new { shop = Shop }));
        Assert.True(await App.ScalarAsync<bool>("""
            SELECT priced_at = date_trunc('second', @placed::timestamptz) FROM order_earnings WHERE shop_domain = @shop AND order_id = 6202
            """, new { shop = Shop, placed })); // the trigger time a day early counts as the processed time
    }

    [Fact]
    public async Task The_total_basis_uses_the_order_total_including_shipping_and_tax()
    {
        await SetAsync(new { earnRate = 1m, earnBasis = "total" });

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(1, 777, subtotal: 100m, total: 119.99m));

        Assert.Equal(119, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task Duplicate_orders_paid_delivery_awards_once_sequentially_and_concurrently()
    {
        var body = ShopifyPayloads.Order(2001, 777, 100m, 110m);
        for (var i = 0; i < 10; i++) await App.PostWebhookAsync("orders/paid", Shop, body, webhookId: "same-" + Shop);
        // Shopify may also send the same order in distinct deliveries (several subscriptions, replays): different webhook ids.
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => App.PostWebhookAsync("orders/paid", Shop, body, webhookId: $"distinct-{i}-{Shop}")));

        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM webhook_deliveries WHERE shop_domain = @shop AND status = 'processed'", new { shop = Shop }) == 11,
            "all 11 stored deliveries processed");
        Assert.Equal(100, await App.BalanceAsync(Shop, 777));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task Orders_that_should_not_earn_are_skipped_with_a_recorded_reason()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(3001, null, 100m, 100m));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(3002, 777, 100m, 100m, test: true));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(3003, 777, 0m, 0m));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(3004, 777, 0.99m, 0.99m));
        await SetAsync(new { earnRate = 0m });
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(3005, 777, 100m, 100m));

        Assert.Equal("no customer (guest checkout)", await SkipReasonAsync(3001));
        Assert.Equal("test order", await SkipReasonAsync(3002));
        Assert.Equal("zero amount", await SkipReasonAsync(3003));
        Assert.Equal("amount × rate rounds down to zero points", await SkipReasonAsync(3004));
        Assert.Equal("earning is off (rate 0)", await SkipReasonAsync(3005));
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task Test_orders_earn_when_the_merchant_allows_it()
    {
        await SetAsync(new { testOrdersEarn = true });

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(3101, 777, 50m, 50m, test: true));

        Assert.Equal(50, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task A_refund_that_arrives_before_its_order_is_taken_back_when_the_order_is_awarded()
    {
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(998, 4001, 50m));
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(4001, 777, subtotal: 180m, total: 200m));

        // awarded 180; refunded 50 of 200 → floor(180 × 50 / 200) = 45 taken back
        Assert.Equal(135, await App.BalanceAsync(Shop, 777));
        Assert.Equal(-45L, await App.ScalarAsync<long>("SELECT points FROM point_transactions WHERE shop_domain = @shop AND reference = 'refund:998'",
            new { shop = Shop }));
    }

    [Fact]
    public async Task Partial_refunds_that_add_up_to_the_order_take_back_exactly_the_award()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(4101, 777, subtotal: 99.99m, total: 100m));
        Assert.Equal(99, await App.BalanceAsync(Shop, 777));

        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(1, 4101, 33.33m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(2, 4101, 33.33m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(2, 4101, 33.33m)); // the same refund again
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(3, 4101, 20m, 13.34m)); // two transactions

        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
        Assert.Equal(3L, await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE shop_domain = @shop AND kind = 'refund_clawback'",
            new { shop = Shop }));
        // One more refund beyond the order's total takes nothing more than was awarded.
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(4, 4101, 10m));
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task A_cancellation_after_a_partial_refund_reverses_only_what_is_left_once()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(4201, 777, subtotal: 200m, total: 200m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(11, 4201, 50m));
        Assert.Equal(150, await App.BalanceAsync(Shop, 777));

        var cancelled = ShopifyPayloads.Order(4201, 777, subtotal: 200m, total: 200m, cancelled: true);
        await App.DeliverAsync("orders/cancelled", Shop, cancelled);
        await App.DeliverAsync("orders/cancelled", Shop, cancelled);
        // The cancellation's refund of the remaining money arrives too: nothing is left to take.
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(12, 4201, 150m));

        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
        Assert.Equal(-150L,
            await App.ScalarAsync<long>("SELECT points FROM point_transactions WHERE shop_domain = @shop AND reference = 'cancel:4201'",
            new { shop = Shop }));
    }

    [Fact]
    public async Task An_order_cancelled_before_its_paid_webhook_never_earns()
    {
        await App.DeliverAsync("orders/cancelled", Shop, ShopifyPayloads.Order(4301, 777, 100m, 100m, cancelled: true));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(4301, 777, 100m, 100m));

        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task Clawbacks_go_below_zero_by_default_and_stop_at_zero_under_the_floor_policy()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(4401, 777, 100m, 100m));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(4402, 888, 100m, 100m));
        // Both customers spend 80 of their 100 points.
        foreach (var customer in new[] { 777, 888 })
        {
            var spend = App.Admin(HttpMethod.Post, $"/api/admin/customers/{customer}/points", Shop,
                JsonContent.Create(new { points = -80, description = "spent at the till" }));
            spend.Headers.Add("Idempotency-Key", $"spend-{customer}");
            Assert.Equal(HttpStatusCode.Created, (await App.Http.SendAsync(spend)).StatusCode);
        }

        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(21, 4401, 100m));
        await SetAsync(new { negativeBalancePolicy = "floor_at_zero" });
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(22, 4402, 100m));

        Assert.Equal(-80, await App.BalanceAsync(Shop, 777));
        Assert.Equal(0, await App.BalanceAsync(Shop, 888));
    }

    [Fact]
    public async Task A_malformed_order_payload_is_parked_with_a_reason_and_awards_nothing()
    {
        var response = await App.PostWebhookAsync("orders/paid", Shop, """{"id":"not-a-number","customer":{"id":"777"}}""", webhookId: "bad-" + Shop);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await App.WaitForDeliveryAsync("bad-" + Shop, "failed");
        Assert.Equal(1, await App.ScalarAsync<int>("SELECT attempts FROM webhook_deliveries WHERE webhook_id = @id", new { id = "bad-" + Shop }));
        Assert.Contains("no numeric id", await App.ScalarAsync<string>("SELECT last_error FROM webhook_deliveries WHERE webhook_id = @id",
            new { id = "bad-" + Shop }));
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }
}
