using Dapper;
using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.Tests.Features.Pending;

/// <summary>
/// A shop's pending period: an order's points wait out its return window (shown with the date they become available, not
/// spendable), a refund or cancel inside it takes them from pending, and they are released after it by the job, by any read of
/// the customer's points, or by a refund that comes later. The clock moves through the app's <see cref="TimeProvider"/>.
/// </summary>
public sealed class PendingPointsTests(PendingPointsTests.PendingApp app) : AppTests<PendingPointsTests.PendingApp>(app)
{
    public sealed class PendingApp : AppFixture
    {
        public PendingApp()
            : this(new ShiftedClock())
        {
        }

        private PendingApp(ShiftedClock clock)
            // The release job is the tests' to run: a scheduled run between a test's setup and its request would release for it.
            : base(new()
                {
                    ["Events:AllowInsecureEndpoints"] = "true", ["Jobs:Schedules:event-delivery"] = "",
                    [$"Jobs:Schedules:{PendingRelease.RecurringId}"] = "",
                },
                s => s.AddSingleton<TimeProvider>(clock)) => Clock = clock;

        public ShiftedClock Clock { get; }
    }

    private ShiftedClock Clock => Fixture.Clock;

    public override async Task InitializeAsync()
    {
        Clock.Shift = TimeSpan.Zero;
        await base.InitializeAsync();
        await SetAsync(new { earnRate = 1m, pendingDays = 14 });
    }

    private async Task SetAsync(object settings)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop, JsonContent.Create(settings)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private Task<JsonElement> MeAsync(long customer) =>
        App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, customer, Clock.GetUtcNow()));

    private static (long Available, long Pending, long Lifetime) Figures(JsonElement me) =>
        (me.GetProperty("available").GetInt64(), me.GetProperty("pending").GetInt64(), me.GetProperty("lifetime").GetInt64());

    private Task<long> PendingAsync(long customer) => App.ScalarAsync<long>(
        "SELECT pending FROM point_balances WHERE shop_domain = @shop AND customer_id = @customer", new { shop = Shop, customer });

    /// <summary>The shop's ledger as "kind points pending_points", oldest first.</summary>
    private async Task<List<string>> LedgerAsync()
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        return (await conn.QueryAsync<string>("""
            SELECT kind || ' ' || points || ' ' || pending_points FROM point_transactions WHERE shop_domain = @shop ORDER BY id
            """, new { shop = Shop })).ToList();
    }

    private Task<long> RowsAsync(string reference) => App.ScalarAsync<long>(
        "SELECT count(*) FROM point_transactions WHERE shop_domain = @shop AND reference = @reference", new { shop = Shop, reference });

    [Fact]
    public async Task An_orders_points_wait_out_the_pending_period_shown_with_their_date_and_then_can_be_spent()
    {
        var paidAt = DateTimeOffset.UtcNow;
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8101, 777, subtotal: 250m, total: 250m), triggeredAt: paidAt);

        var me = await MeAsync(777);
        Assert.Equal((0, 250, 250), Figures(me));
        Assert.Equal(0, me.GetProperty("balance").GetInt64());
        var order = me.GetProperty("pendingOrders").EnumerateArray().Single();
        Assert.Equal((8101, 250), (order.GetProperty("orderId").GetInt64(), order.GetProperty("points").GetInt64()));
        var availableAt = order.GetProperty("availableAt").GetDateTimeOffset();
        Assert.InRange(availableAt - paidAt, TimeSpan.FromDays(14) - TimeSpan.FromSeconds(2), TimeSpan.FromDays(14) + TimeSpan.FromSeconds(2));
        Assert.Empty(me.GetProperty("rules").GetProperty("choices").EnumerateArray()); // nothing to convert yet

        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 777, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points = 200 }),
        };
        convert.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var refused = await App.Http.SendAsync(convert);
        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal("insufficient_points", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        Clock.Shift = availableAt - DateTimeOffset.UtcNow + TimeSpan.FromMinutes(1); // the period is over; no job has run
        me = await MeAsync(777);
        Assert.Equal((250, 0, 250), Figures(me));
        Assert.Empty(me.GetProperty("pendingOrders").EnumerateArray());
        var release = me.GetProperty("history")[0];
        Assert.Equal(("pending_release", 250, -250), (release.GetProperty("kind").GetString(), release.GetProperty("points").GetInt64(),
            release.GetProperty("pendingPoints").GetInt64()));
        Assert.Equal(1, await RowsAsync("release:8101"));
        Assert.Equal(1, await RowsAsync("order:8101"));
    }

    [Fact]
    public async Task Points_whose_period_is_over_can_be_converted_at_once_with_nothing_read_before()
    {
        Shopify.StubDiscountCreate(Shop);
        Shopify.StubCouponsMetafield(Shop);
        Shopify.StubMetafieldsSet(Shop);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8102, 777, subtotal: 250m, total: 250m),
            triggeredAt: DateTimeOffset.UtcNow);
        // The period is over (the saga's clock is not moved: its timeouts count from the database's); no job has run, nothing has read the
        // points.
        await App.ScalarAsync<int>(
            "UPDATE order_earnings SET pending_until = now() - interval '1 minute' WHERE shop_domain = @shop AND order_id = 8102",
            new { shop = Shop });

        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 777, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points = 200 }),
        };
        convert.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var converted = await App.ConversionSettledAsync(await App.Http.SendAsync(convert));

        Assert.Equal(HttpStatusCode.Created, converted.StatusCode);
        Assert.Equal(1, await RowsAsync("release:8102"));
        Assert.Equal((50, 0, 250), Figures(await MeAsync(777)));
    }

    [Fact]
    public async Task A_refund_inside_the_period_takes_from_the_pending_points_and_leaves_the_balance_alone()
    {
        Assert.Equal(HttpStatusCode.Created, (await App.Http.SendAsync(BonusRequest(777, 50))).StatusCode);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8201, 777, subtotal: 100m, total: 100m));

        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(82011, 8201, 40m));

        Assert.Equal((50, 60), (await App.BalanceAsync(Shop, 777), await PendingAsync(777)));
        var me = await MeAsync(777);
        Assert.Equal(60, me.GetProperty("pendingOrders")[0].GetProperty("points").GetInt64());

        Clock.Shift = TimeSpan.FromDays(15);
        Assert.Equal((110, 0, 110), Figures(await MeAsync(777))); // 50 + what the order still held
    }

    [Fact]
    public async Task A_cancel_inside_the_period_removes_the_pending_points_and_nothing_is_released_later()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8301, 777, subtotal: 100m, total: 100m));
        await App.DeliverAsync("orders/cancelled", Shop, ShopifyPayloads.Order(8301, 777, subtotal: 100m, total: 100m, cancelled: true));

        Assert.Equal((0, 0), (await App.BalanceAsync(Shop, 777), await PendingAsync(777)));
        Clock.Shift = TimeSpan.FromDays(15);
        await App.Services.GetRequiredService<PendingRelease>().ReleaseDueAsync(default);
        Assert.Equal((0, 0, 0), Figures(await MeAsync(777)));
        Assert.Equal(0, await RowsAsync("release:8301"));
        Assert.Equal(["order_award 0 100", "cancellation_reversal 0 -100"], await LedgerAsync());
    }

    [Fact]
    public async Task A_refund_processed_after_the_period_but_before_the_release_takes_from_pending_then_the_rest_is_released()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8401, 777, subtotal: 100m, total: 100m));
        Clock.Shift = TimeSpan.FromDays(15);

        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(84011, 8401, 40m));

        Assert.Equal((0, 60), (await App.BalanceAsync(Shop, 777), await PendingAsync(777)));
        Assert.Equal((60, 0, 60), Figures(await MeAsync(777)));
        Assert.Equal(["order_award 0 100", "refund_clawback 0 -40", "pending_release 60 -60"], await LedgerAsync());
    }

    [Fact]
    public async Task An_order_whose_refund_waits_in_the_webhook_backlog_is_not_released_until_the_refund_is_taken_from_pending()
    {
        await SetAsync(new { negativeBalancePolicy = "floor_at_zero" }); // a refund after spending could take back nothing
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8451, 777, subtotal: 100m, total: 100m));
        // Shopify sent the refund inside the period; the app has not processed it yet (a backlog, a retry waiting out its back-off).
        await App.ScalarAsync<int>("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id, order_id, next_attempt_at)
            VALUES (@shop || '-refund', @shop, 'refunds/create', '2026-10', @refund, NULL, 8451, now() + interval '1 hour')
            """, new { shop = Shop, refund = ShopifyPayloads.Refund(84511, 8451, 100m) });
        Clock.Shift = TimeSpan.FromDays(15);

        await App.Services.GetRequiredService<PendingRelease>().ReleaseDueAsync(default);
        Assert.Equal((0, 100, 100), Figures(await MeAsync(777))); // neither the job nor the customer's read released it

        await App.ScalarAsync<int>("UPDATE webhook_deliveries SET next_attempt_at = now() WHERE webhook_id = @id", new { id = Shop + "-refund" });
        await App.WaitForDeliveryAsync(Shop + "-refund", "processed");
        await App.Services.GetRequiredService<PendingRelease>().ReleaseDueAsync(default);
        Assert.Equal((0, 0, 0), Figures(await MeAsync(777)));
        Assert.Equal(["order_award 0 100", "refund_clawback 0 -100"], await LedgerAsync());
    }

    [Fact]
    public async Task The_recurring_job_releases_every_due_order_without_anyone_looking_and_leaves_the_rest()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8501, 777, subtotal: 100m, total: 100m));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8502, 778, subtotal: 70m, total: 70m));
        Clock.Shift = TimeSpan.FromDays(10);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8503, 778, subtotal: 30m, total: 30m), triggeredAt: Clock.GetUtcNow());
        Clock.Shift = TimeSpan.FromDays(15);

        await App.Services.GetRequiredService<PendingRelease>().ReleaseDueAsync(default);

        Assert.Equal((100, 0), (await App.BalanceAsync(Shop, 777), await PendingAsync(777)));
        Assert.Equal((70, 30), (await App.BalanceAsync(Shop, 778), await PendingAsync(778))); // 8503 has four days to go
        Assert.Equal(0, await RowsAsync("release:8503"));
    }

    [Fact]
    public async Task An_order_paid_longer_ago_than_the_period_is_spendable_at_once()
    {
        var paid = DateTimeOffset.UtcNow.AddDays(-20);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8601, 777, subtotal: 90m, total: 90m, processedAt: paid, createdAt: paid),
            triggeredAt: paid);

        Assert.Equal((90, 0), (await App.BalanceAsync(Shop, 777), await PendingAsync(777)));
        Assert.Equal(0, await RowsAsync("release:8601"));
    }

    [Fact]
    public async Task The_merchants_endpoint_hears_of_the_points_awarded_as_pending_and_of_their_release()
    {
        var receiver = Fixture.NewServer();
        receiver.Given(Request.Create().WithPath("/hooks").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var endpoint = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/event-endpoint", Shop,
            JsonContent.Create(new { url = receiver.Url + "/hooks", secret = "whsec_pending_points_test_secret" })));
        Assert.True(endpoint.IsSuccessStatusCode, await endpoint.Content.ReadAsStringAsync());
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8801, 777, subtotal: 60m, total: 60m));
        Clock.Shift = TimeSpan.FromDays(15);
        await App.Services.GetRequiredService<PendingRelease>().ReleaseDueAsync(default);

        await App.Services.GetRequiredService<Loyalty.ShopifyApp.Features.Events.OutgoingEvents>().DeliverDueAsync(default);

        var events = receiver.LogEntries.Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement).ToDictionary(
            e => e.GetProperty("type").GetString()!, e => e.GetProperty("data"));
        Assert.Equal(60, events["points.awarded"].GetProperty("points").GetInt64());
        Assert.Equal(JsonValueKind.String, events["points.awarded"].GetProperty("pendingUntil").ValueKind);
        var released = events["points.released"];
        Assert.Equal((8801, 60), (released.GetProperty("orderId").GetInt64(), released.GetProperty("points").GetInt64()));
    }

    [Fact]
    public async Task The_dashboard_counts_pending_points_apart_and_issues_them_once_when_released()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(8701, 777, subtotal: 80m, total: 80m));
        Assert.Equal((0, 80, 0), await DashboardAsync());

        Clock.Shift = TimeSpan.FromDays(15);
        await App.Services.GetRequiredService<PendingRelease>().ReleaseDueAsync(default);
        Assert.Equal((80, 0, 80), await DashboardAsync());
    }

    /// <summary>Points issued, pending and outstanding on the admin dashboard, over the last 30 days up to the app's now.</summary>
    private async Task<(long Issued, long Pending, long Outstanding)> DashboardAsync()
    {
        var to = Uri.EscapeDataString(Clock.GetUtcNow().AddMinutes(1).ToString("O"));
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/dashboard?to={to}", Shop));
        var totals = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("totals");
        return (totals.GetProperty("pointsIssued").GetInt64(), totals.GetProperty("pointsPending").GetInt64(),
            totals.GetProperty("pointsOutstanding").GetInt64());
    }

    [Fact]
    public async Task The_pending_period_is_a_setting_of_0_to_365_days()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { pendingDays = 366 })));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid_settings", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty("pendingDays", out _));

        var view = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/settings", Shop))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(14, view.GetProperty("pendingDays").GetInt32());
    }

    private HttpRequestMessage BonusRequest(long customer, long points)
    {
        var request = App.Admin(HttpMethod.Post, $"/api/admin/customers/{customer}/points", Shop,
            JsonContent.Create(new { points, description = "Welcome" }));
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        return request;
    }
}
