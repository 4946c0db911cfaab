using Dapper;
using Loyalty.ShopifyApp.Features.Expiry;

namespace Loyalty.Tests.Features.Expiry;

/// <summary>
/// Points that expire: each lot its months after it was earned (an order's payment, as Shopify signed it), spending the oldest
/// first, or the whole balance after months without activity. An expiry is a ledger row per lot, made by the job or by any read or
/// spend of the customer's points, so an expired point can never be spent. The clock moves through the app's <see cref="TimeProvider"/>.
/// </summary>
public sealed class ExpiryTests(ExpiryTests.ExpiryApp app) : AppTests<ExpiryTests.ExpiryApp>(app)
{
    public sealed class ExpiryApp : AppFixture
    {
        public ExpiryApp()
            : this(new ShiftedClock())
        {
        }

        private ExpiryApp(ShiftedClock clock)
            : base(new() { ["Events:AllowInsecureEndpoints"] = "true", ["Jobs:Schedules:event-delivery"] = "", ["Expiry:ReadLockTimeoutMs"] = "100" },
                s => s.AddSingleton<TimeProvider>(clock)) => Clock = clock;

        public ShiftedClock Clock { get; }
    }

    private ShiftedClock Clock => Fixture.Clock;

    private readonly DateTimeOffset Today = DateTimeOffset.UtcNow; // each test's own: a class-wide one ages while the class runs

    /// <summary>The shop's rule is set today (when it begins: a point counts from then at the earliest); every test moves on from here.</summary>
    public override async Task InitializeAsync()
    {
        Clock.Shift = TimeSpan.Zero;
        await base.InitializeAsync();
        await SetAsync(new { earnRate = 1m, expiryMode = "earned", expiryMonths = 12 });
    }

    private async Task SetAsync(object settings)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop, JsonContent.Create(settings)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Moves the app's clock to <paramref name="months"/> months and <paramref name="days"/> days after today.</summary>
    private void At(int months, int days = 0) => Clock.Shift = Today.AddMonths(months).AddDays(days) - Today;

    /// <summary>An order of <paramref name="points"/> (rate 1) paid now, as the app's clock has it.</summary>
    private Task PaidAsync(long orderId, long customer, decimal points)
    {
        var paid = Clock.GetUtcNow();
        return App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(orderId, customer, subtotal: points, total: points, processedAt: paid,
            createdAt: paid), triggeredAt: paid);
    }

    private Task<JsonElement> MeAsync(long customer) =>
        App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, customer, Clock.GetUtcNow()));

    private Task<HttpResponseMessage> DonateAsync(long customer, long points)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/donations", Shop, customer, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points, cause = "Food bank" }),
        };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        return App.Http.SendAsync(request);
    }

    private Task ExpireDueAsync() => App.Services.GetRequiredService<PointsExpiry>().ExpireDueAsync(default);

    /// <summary>The customer's expiry rows as "reference points", oldest first.</summary>
    private async Task<List<string>> ExpiriesAsync(long customer)
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        return (await conn.QueryAsync<string>("""
            SELECT reference || ' ' || points FROM point_transactions WHERE shop_domain = @shop AND customer_id = @customer AND kind = 'expiry'
            ORDER BY id
            """, new { shop = Shop, customer })).ToList();
    }

    private Task<long> LotAsync(long orderId) => App.ScalarAsync<long>(
        "SELECT id FROM point_transactions WHERE shop_domain = @shop AND reference = @reference",
        new { shop = Shop, reference = $"order:{orderId}" });

    private static void Near(DateTimeOffset expected, JsonElement at) =>
        Assert.InRange(at.GetDateTimeOffset() - expected, TimeSpan.FromSeconds(-2), TimeSpan.FromSeconds(2));

    [Fact]
    public async Task A_lot_expires_its_months_after_payment_and_spending_takes_the_oldest_lot_first()
    {
        await PaidAsync(7101, 501, 100);
        At(10);
        await PaidAsync(7102, 501, 50);
        Assert.Equal(HttpStatusCode.Created, (await DonateAsync(501, 40)).StatusCode); // out of the oldest order's 100

        var me = await MeAsync(501);
        Assert.Equal("earned", me.GetProperty("expiry").GetProperty("mode").GetString());
        var next = me.GetProperty("expiry").GetProperty("next");
        Assert.Equal((60, 50), (next[0].GetProperty("points").GetInt64(), next[1].GetProperty("points").GetInt64()));
        Near(Today.AddMonths(12), next[0].GetProperty("expiresAt"));
        Near(Today.AddMonths(22), next[1].GetProperty("expiresAt"));

        At(12, 1); // no job runs: the customer's read expires what is due
        me = await MeAsync(501);
        Assert.Equal(50, me.GetProperty("available").GetInt64());
        Assert.Equal([$"expire:{await LotAsync(7101)}:1 -60"], await ExpiriesAsync(501));
        var row = me.GetProperty("history")[0];
        Assert.Equal(("expiry", -60), (row.GetProperty("kind").GetString(), row.GetProperty("points").GetInt64()));
        Assert.Equal(150, me.GetProperty("lifetime").GetInt64()); // what was earned, expired or not
        Assert.Equal(40, me.GetProperty("totalRedeemed").GetInt64()); // expired points are not counted as redeemed

        await ExpireDueAsync();
        Assert.Single(await ExpiriesAsync(501)); // the lot expired once

        At(22, 1);
        Assert.Equal(0, (await MeAsync(501)).GetProperty("available").GetInt64());
        Assert.Equal(2, (await ExpiriesAsync(501)).Count);
        Assert.Equal(110, await App.ScalarAsync<long>(
            "SELECT total_expired FROM point_balances WHERE shop_domain = @shop AND customer_id = 501", new { shop = Shop }));
    }

    [Fact]
    public async Task Turning_expiry_on_never_takes_points_at_once_earlier_points_count_from_that_day()
    {
        await SetAsync(new { expiryMode = "never" });
        var old = Today.AddMonths(-20);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(7131, 511, subtotal: 80m, total: 80m, processedAt: old, createdAt: old),
            triggeredAt: old);
        At(1);
        await SetAsync(new { expiryMode = "earned", expiryMonths = 12 });

        await ExpireDueAsync();
        var next = (await MeAsync(511)).GetProperty("expiry").GetProperty("next").EnumerateArray().Single();

        Assert.Equal(80, await App.BalanceAsync(Shop, 511));
        Near(Today.AddMonths(13), next.GetProperty("expiresAt"));
    }

    [Fact]
    public async Task Buying_and_refunding_an_order_does_not_renew_points_about_to_expire()
    {
        await PaidAsync(7111, 509, 100);
        At(11, 20);
        await PaidAsync(7112, 509, 100);
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(71121, 7112, 100m)); // the refund takes its own order's points

        At(12, 5);
        await ExpireDueAsync();

        Assert.Equal([$"expire:{await LotAsync(7111)}:1 -100"], await ExpiriesAsync(509));
        Assert.Equal(0, await App.BalanceAsync(Shop, 509));
    }

    [Fact]
    public async Task A_refund_after_an_orders_points_expired_does_not_take_them_a_second_time()
    {
        await PaidAsync(7121, 510, 100);
        At(11);
        await PaidAsync(7122, 510, 50);
        At(12, 1);
        await ExpireDueAsync();
        Assert.Equal(50, await App.BalanceAsync(Shop, 510));

        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(71211, 7121, 100m));
        await App.DeliverAsync("orders/cancelled", Shop, ShopifyPayloads.Order(7121, 510, subtotal: 100m, total: 100m, cancelled: true));

        Assert.Equal(50, await App.BalanceAsync(Shop, 510)); // the refunded order's points had expired: nothing is left to take back
        Assert.Equal(0, await App.ScalarAsync<long>(
            "SELECT coalesce(sum(points), 0) FROM point_transactions WHERE shop_domain = @shop AND order_id = 7121 AND kind <> 'order_award'",
            new { shop = Shop }));
    }

    [Fact]
    public async Task Points_whose_time_is_up_cannot_be_donated_even_before_anything_read_them()
    {
        await PaidAsync(7201, 502, 300);
        At(12, 1);
        Assert.Equal(300, await App.BalanceAsync(Shop, 502)); // due, but nothing has expired them yet

        var refused = await DonateAsync(502, 100);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal("insufficient_points", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(0, await App.BalanceAsync(Shop, 502)); // the donation's own transaction expired them, and kept that
        Assert.Equal([$"expire:{await LotAsync(7201)}:1 -300"], await ExpiriesAsync(502));
    }

    [Fact]
    public async Task Points_whose_time_is_up_cannot_be_converted()
    {
        await PaidAsync(7301, 503, 500);
        At(12, 1);
        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 503, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points = 100 }),
        };
        convert.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());

        var refused = await App.Http.SendAsync(convert);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal("insufficient_points", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(0, await App.BalanceAsync(Shop, 503));
    }

    [Fact]
    public async Task A_conversion_expires_due_points_in_its_own_claim_when_the_read_before_it_gave_way()
    {
        await PaidAsync(7311, 512, 500);
        At(12, 1);
        await using var holder = await App.Db.OpenConnectionAsync();
        await using var busy = await holder.BeginTransactionAsync(); // other work holds the customer's balance
        await holder.ExecuteAsync("SELECT 1 FROM point_balances WHERE shop_domain = @shop AND customer_id = 512 FOR UPDATE", new { shop = Shop },
            busy);
        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 512, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points = 100 }),
        };
        convert.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var answer = App.Http.SendAsync(convert);

        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(App.Log.Tail(200, "Could not expire the due points of customer 512").Length > 0),
            "the read before the conversion to give way");
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") > 0,
            "the conversion's claim to wait for the balance");
        await busy.CommitAsync();
        var refused = await answer;

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        Assert.Equal("insufficient_points", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_longer_period_keeps_the_rules_start_and_a_shorter_one_counts_from_its_own_day()
    {
        await PaidAsync(7141, 513, 100);
        At(6);
        await SetAsync(new { expiryMonths = 24 }); // longer: the point still expires 24 months after it was earned
        Near(Today.AddMonths(24), (await MeAsync(513)).GetProperty("expiry").GetProperty("next")[0].GetProperty("expiresAt"));

        await SetAsync(new { expiryMonths = 3 }); // shorter: counts from today, month 6, never at once
        Near(Today.AddMonths(9), (await MeAsync(513)).GetProperty("expiry").GetProperty("next")[0].GetProperty("expiresAt"));
        Assert.Equal(100, await App.BalanceAsync(Shop, 513));
    }

    [Fact]
    public async Task Under_inactivity_the_whole_balance_expires_after_the_months_without_earning_or_spending()
    {
        await SetAsync(new { expiryMode = "inactivity", expiryMonths = 6 });
        await PaidAsync(7401, 504, 70);
        await PaidAsync(7403, 505, 90);
        At(1);
        await PaidAsync(7402, 504, 30);

        var next = (await MeAsync(504)).GetProperty("expiry").GetProperty("next").EnumerateArray().Single();
        Assert.Equal(100, next.GetProperty("points").GetInt64());
        Near(Today.AddMonths(7), next.GetProperty("expiresAt"));
        At(5);
        Assert.Equal(HttpStatusCode.Created, (await DonateAsync(505, 10)).StatusCode); // activity: 505's period starts again

        At(7, 1);
        await ExpireDueAsync();

        Assert.Equal(0, await App.BalanceAsync(Shop, 504));
        Assert.Equal([$"expire:{await LotAsync(7401)}:1 -70", $"expire:{await LotAsync(7402)}:1 -30"], await ExpiriesAsync(504)); // a row per lot
        Assert.Equal(80, await App.BalanceAsync(Shop, 505));
        Assert.Empty(await ExpiriesAsync(505));
    }

    [Fact]
    public async Task The_merchants_endpoint_hears_of_each_expiry_with_its_lots()
    {
        var receiver = Fixture.NewServer();
        receiver.Given(Request.Create().WithPath("/hooks").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var endpoint = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/event-endpoint", Shop,
            JsonContent.Create(new { url = receiver.Url + "/hooks", secret = "whsec_points_expiry_test_secret" })));
        Assert.True(endpoint.IsSuccessStatusCode, await endpoint.Content.ReadAsStringAsync());
        await PaidAsync(7501, 506, 25);
        At(0, 1);
        await PaidAsync(7502, 506, 35);

        At(12, 2);
        await ExpireDueAsync();
        await App.Services.GetRequiredService<Loyalty.ShopifyApp.Features.Events.OutgoingEvents>().DeliverDueAsync(default);

        var expired = receiver.LogEntries.Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement)
            .Single(e => e.GetProperty("type").GetString() == "points.expired").GetProperty("data");
        Assert.Equal((506, 60), (expired.GetProperty("customerId").GetInt64(), expired.GetProperty("points").GetInt64()));
        Assert.Equal([await LotAsync(7501), await LotAsync(7502)],
            expired.GetProperty("lots").EnumerateArray().Select(l => l.GetProperty("lotTransactionId").GetInt64()));
    }

    [Fact]
    public async Task The_shop_hears_once_of_points_expiring_within_the_notice_period()
    {
        var receiver = Fixture.NewServer();
        receiver.Given(Request.Create().WithPath("/hooks").UsingPost()).RespondWith(Response.Create().WithStatusCode(200));
        var endpoint = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/event-endpoint", Shop,
            JsonContent.Create(new { url = receiver.Url + "/hooks", secret = "whsec_points_expiring_test_secret" })));
        Assert.True(endpoint.IsSuccessStatusCode, await endpoint.Content.ReadAsStringAsync());
        await PaidAsync(7701, 514, 100);
        At(6);
        await PaidAsync(7702, 514, 50);
        var notices = App.Services.GetRequiredService<ExpiryNotices>();

        At(11, 10); // the first order's points expire in about three weeks: not yet within the 14 days
        Assert.Equal(0, await notices.NoticeDueAsync(default));
        At(11, 20);
        await notices.NoticeDueAsync(default);
        await notices.NoticeDueAsync(default); // told once
        await App.Services.GetRequiredService<Loyalty.ShopifyApp.Features.Events.OutgoingEvents>().DeliverDueAsync(default);

        var expiring = receiver.LogEntries.Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement)
            .Where(e => e.GetProperty("type").GetString() == "points.expiring").Select(e => e.GetProperty("data")).ToList();
        var data = Assert.Single(expiring);
        Assert.Equal((514, 100), (data.GetProperty("customerId").GetInt64(), data.GetProperty("points").GetInt64()));
        Near(Today.AddMonths(12), data.GetProperty("expiresAt"));
        Assert.Equal(await LotAsync(7701), data.GetProperty("lots")[0].GetProperty("lotTransactionId").GetInt64());
    }

    [Fact]
    public async Task The_dashboard_shows_the_programs_liability_and_what_expires_soon()
    {
        await SetAsync(new { pointValue = 0.5m, expiryMonths = 1 });
        await PaidAsync(7601, 507, 200);
        await PaidAsync(7603, 508, 40);
        At(0, 20);
        await PaidAsync(7602, 507, 100);

        var totals = await DashboardAsync();
        Assert.Equal(340, totals.GetProperty("pointsOutstanding").GetInt64());
        Assert.Equal(170m, totals.GetProperty("outstandingValue").GetDecimal());
        Assert.Equal(240, totals.GetProperty("pointsExpiringSoon").GetInt64()); // the first two orders' points, within 30 days
        Assert.Equal(30, totals.GetProperty("expiringSoonDays").GetInt32());

        At(1, 1);
        await ExpireDueAsync();
        totals = await DashboardAsync();
        Assert.Equal((100, 240, 100), (totals.GetProperty("pointsOutstanding").GetInt64(), totals.GetProperty("pointsExpired").GetInt64(),
            totals.GetProperty("pointsExpiringSoon").GetInt64()));
    }

    /// <summary>The dashboard from yesterday (when the ledger's rows were written, on the real clock) to the app's now.</summary>
    private async Task<JsonElement> DashboardAsync()
    {
        var from = Uri.EscapeDataString(Today.AddDays(-1).ToString("O"));
        var to = Uri.EscapeDataString(Clock.GetUtcNow().AddMinutes(1).ToString("O"));
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/dashboard?from={from}&to={to}", Shop));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("totals");
    }

    [Theory]
    [InlineData("sometimes", 12, "expiryMode")]
    [InlineData("earned", 0, "expiryMonths")]
    [InlineData("inactivity", 121, "expiryMonths")]
    [InlineData("earned", 12, "expiryNoticeDays", 91)]
    public async Task Expiry_is_never_earned_or_inactivity_over_1_to_120_months_noticed_0_to_90_days_before(string mode, int months,
        string field, int noticeDays = 14)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { expiryMode = mode, expiryMonths = months, expiryNoticeDays = noticeDays })));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid_settings", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }
}
