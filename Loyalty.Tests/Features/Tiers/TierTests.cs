using Loyalty.ShopifyApp.Features.Tiers;

namespace Loyalty.Tests.Features.Tiers;

/// <summary>
/// VIP tiers (issue 18): the merchant's tiers by points earned or money spent over a rolling window; a customer rises at once, keeps a
/// tier for the grace period after falling below it, and earns at its multiplier; the merchant can set a tier by hand with a reason,
/// audited. Driven through the public API with the clock moved by the app's <see cref="TimeProvider"/>.
/// </summary>
public sealed class TierTests(TierTests.TierApp app) : AppTests<TierTests.TierApp>(app)
{
    public sealed class TierApp : AppFixture
    {
        public TierApp()
            : this(new ShiftedClock())
        {
        }

        private TierApp(ShiftedClock clock)
            : base(new() { ["Jobs:ServerEnabled"] = "false" }, s => s.AddSingleton<TimeProvider>(clock)) => Clock = clock;

        public ShiftedClock Clock { get; }
    }

    private ShiftedClock Clock => Fixture.Clock;

    public override async Task InitializeAsync()
    {
        Clock.Shift = TimeSpan.Zero;
        await base.InitializeAsync();
    }

    private async Task<HttpResponseMessage> AdminAsync(HttpMethod method, string path, object? body = null) =>
        await App.Http.SendAsync(App.Admin(method, path, Shop, body is null ? null : JsonContent.Create(body)));

    private async Task<long> TierAsync(string name, decimal threshold, decimal multiplier, params string[] perks)
    {
        var response = await AdminAsync(HttpMethod.Post, "/api/admin/tiers", new { name, threshold, multiplier, perks });
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
    }

    private async Task RulesAsync(string basis, int? windowMonths, int graceDays) => Assert.Equal(HttpStatusCode.OK,
        (await AdminAsync(HttpMethod.Put, "/api/admin/tiers/rules", new { basis, windowMonths, graceDays })).StatusCode);

    private Task PaidAsync(long orderId, long customer, decimal amount)
    {
        var paid = Clock.GetUtcNow();
        return App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(orderId, customer, subtotal: amount, total: amount, processedAt: paid,
            createdAt: paid), triggeredAt: paid);
    }

    private async Task<JsonElement> MeAsync(long customer) =>
        await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, customer, Clock.GetUtcNow()));

    private async Task<JsonElement> CustomerTierAsync(long customer) =>
        await (await AdminAsync(HttpMethod.Get, $"/api/admin/customers/{customer}/tier")).Content.ReadFromJsonAsync<JsonElement>();

    private static string? TierName(JsonElement status) =>
        status.ValueKind == JsonValueKind.Null || status.GetProperty("tier").ValueKind == JsonValueKind.Null
            ? null : status.GetProperty("tier").GetProperty("name").GetString();

    private Task<int> ReviewAsync() => App.Services.GetRequiredService<TierReview>().ReviewAsync(default);

    [Fact]
    public async Task A_customer_rises_at_once_earns_at_the_tiers_multiplier_and_sees_what_the_next_tier_needs()
    {
        await TierAsync("Silver", 100, 1.5m, "Free shipping");
        await TierAsync("Gold", 1000, 2m);

        await PaidAsync(8001, 61, 120m); // 120 points at rate 1: Silver from now
        await PaidAsync(8002, 61, 100m); // at Silver: 100 × 1.5

        Assert.Equal(270, await App.BalanceAsync(Shop, 61));
        var tier = (await MeAsync(61)).GetProperty("tier");
        Assert.Equal("Silver", TierName(tier));
        Assert.Equal(1.5m, tier.GetProperty("tier").GetProperty("multiplier").GetDecimal());
        Assert.Equal("Free shipping", tier.GetProperty("tier").GetProperty("perks")[0].GetString());
        Assert.Equal(220m, tier.GetProperty("current").GetDecimal()); // points at the shop's rate: a tier's multiplier does not feed itself
        Assert.Equal(("Gold", 780m), (tier.GetProperty("next").GetProperty("name").GetString(),
            tier.GetProperty("next").GetProperty("remaining").GetDecimal()));
        var history = (await CustomerTierAsync(61)).GetProperty("history");
        Assert.Equal(("rose", "Silver", "system"), (history[0].GetProperty("cause").GetString(), history[0].GetProperty("toTier").GetString(),
            history[0].GetProperty("actor").GetString()));
    }

    [Fact]
    public async Task A_customer_below_their_tier_keeps_it_for_the_grace_period_then_drops()
    {
        await RulesAsync(TierBases.PointsEarned, windowMonths: 1, graceDays: 10);
        await TierAsync("Silver", 100, 1.25m);
        await PaidAsync(8101, 62, 150m);

        Clock.Shift = TimeSpan.FromDays(40); // the order left the one-month window
        await ReviewAsync();
        var kept = (await MeAsync(62)).GetProperty("tier");
        Assert.Equal("Silver", TierName(kept));
        Assert.Equal(0m, kept.GetProperty("current").GetDecimal());
        Assert.NotEqual(JsonValueKind.Null, kept.GetProperty("keptUntil").ValueKind);

        Clock.Shift = TimeSpan.FromDays(51);
        await ReviewAsync();
        Assert.Null(TierName((await MeAsync(62)).GetProperty("tier")));
        Assert.Equal("dropped", (await CustomerTierAsync(62)).GetProperty("history")[0].GetProperty("cause").GetString());
        await PaidAsync(8102, 62, 40m); // no tier: × 1
        Assert.Equal(190, await App.BalanceAsync(Shop, 62));
    }

    [Fact]
    public async Task A_tier_set_by_hand_is_kept_whatever_the_rules_say_with_its_reason_until_the_merchant_gives_it_back()
    {
        var gold = await TierAsync("Gold", 5000, 2m);
        Assert.Equal("invalid_reason", (await (await AdminAsync(HttpMethod.Put, "/api/admin/customers/63/tier", new { tierId = gold }))
            .Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await AdminAsync(HttpMethod.Put, "/api/admin/customers/63/tier",
            new { tierId = gold + 1000, reason = "typo" })).StatusCode);

        var set = await AdminAsync(HttpMethod.Put, "/api/admin/customers/63/tier", new { tierId = gold, reason = "Founding customer" });
        Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        await PaidAsync(8201, 63, 10m); // far below Gold's threshold, at Gold's multiplier
        await ReviewAsync();
        Assert.Equal(20, await App.BalanceAsync(Shop, 63));
        var view = await CustomerTierAsync(63);
        Assert.Equal(("Gold", "manual"), (TierName(view.GetProperty("status")), view.GetProperty("status").GetProperty("source").GetString()));
        Assert.Equal(("manual", "Founding customer"), (view.GetProperty("history")[0].GetProperty("cause").GetString(),
            view.GetProperty("history")[0].GetProperty("reason").GetString()));
        Assert.StartsWith("staff:", view.GetProperty("history")[0].GetProperty("actor").GetString());

        await AdminAsync(HttpMethod.Put, "/api/admin/customers/63/tier", new { automatic = true, reason = "Back to the rules" });
        Assert.Null(TierName((await CustomerTierAsync(63)).GetProperty("status"))); // the rules decide at once: no tier, no grace
    }

    [Fact]
    public async Task Tiers_by_money_spent_count_what_refunds_leave_and_an_archived_tier_is_left_at_the_next_review()
    {
        await RulesAsync(TierBases.MoneySpent, windowMonths: null, graceDays: 0);
        var vip = await TierAsync("VIP", 200, 1m);
        await PaidAsync(8301, 64, 250m);
        Assert.Equal("VIP", TierName((await MeAsync(64)).GetProperty("tier")));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(83011, 8301, 100m));
        Assert.Null(TierName((await MeAsync(64)).GetProperty("tier"))); // 150 spent once refunded; no grace in this shop

        await PaidAsync(8302, 64, 100m);
        var members = await (await AdminAsync(HttpMethod.Get, $"/api/admin/tiers/{vip}/members")).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(64, members[0].GetProperty("customerId").GetInt64());
        Assert.Equal(HttpStatusCode.NoContent, (await AdminAsync(HttpMethod.Delete, $"/api/admin/tiers/{vip}")).StatusCode);
        await ReviewAsync();
        Assert.Null((await MeAsync(64)).GetProperty("tier").ValueKind == JsonValueKind.Null ? null : "still shown");
    }

    [Fact]
    public async Task A_customers_tier_and_its_history_are_in_their_data_request_and_go_with_their_erasure()
    {
        var gold = await TierAsync("Gold", 5000, 2m);
        await AdminAsync(HttpMethod.Put, "/api/admin/customers/65/tier", new { tierId = gold, reason = "Knows the owner" });
        await using (var conn = await App.Db.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            var export = await ShopifyApp.Features.Compliance.CustomerData.ExportAsync(conn, tx, Shop, 65, [], default);
            Assert.Equal("Knows the owner", export["tier"]!["changes"]![0]!["reason"]!.GetValue<string>());
        }

        await App.DeliverAsync("customers/redact", Shop, $$"""{"shop_domain":"{{Shop}}","customer":{"id":65},"orders_to_redact":[]}""");

        var view = await CustomerTierAsync(65);
        Assert.Null(TierName(view.GetProperty("status")));
        Assert.Equal(0, view.GetProperty("history").GetArrayLength());
    }

    [Fact]
    public async Task Refunds_that_came_before_their_order_are_weighed_once_so_a_passing_figure_gives_no_tier()
    {
        await TierAsync("Gold", 50, 2m);
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(84011, 8401, 40m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(84012, 8401, 60m));
        await PaidAsync(8401, 66, 100m); // refunded in full before it was paid: 100 points awarded and taken back at once

        Assert.Null(TierName((await MeAsync(66)).GetProperty("tier")));
        Assert.Equal(0, (await CustomerTierAsync(66)).GetProperty("history").GetArrayLength());
    }

    [Fact]
    public async Task Buying_into_a_tier_and_returning_the_order_leaves_it_at_once_grace_or_not()
    {
        await RulesAsync(TierBases.PointsEarned, windowMonths: null, graceDays: 30);
        await TierAsync("Gold", 1000, 2m);
        await PaidAsync(8501, 67, 1000m);
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(85011, 8501, 1000m));

        await PaidAsync(8502, 67, 100m); // no tier any more: × 1

        Assert.Equal(100, await App.BalanceAsync(Shop, 67));
        Assert.Equal("dropped", (await CustomerTierAsync(67)).GetProperty("history")[0].GetProperty("cause").GetString());
    }

    [Fact]
    public async Task An_order_after_the_grace_period_ended_earns_without_the_tier_even_before_the_daily_review()
    {
        await RulesAsync(TierBases.PointsEarned, windowMonths: 1, graceDays: 10);
        await TierAsync("Silver", 100, 1.25m);
        await PaidAsync(8601, 68, 150m);
        Clock.Shift = TimeSpan.FromDays(40);
        await ReviewAsync(); // the figure fell: the grace period starts

        Clock.Shift = TimeSpan.FromDays(51);
        await PaidAsync(8602, 68, 40m); // no review since the grace ended: still × 1

        Assert.Equal(190, await App.BalanceAsync(Shop, 68));
    }

    [Fact]
    public async Task A_very_large_order_in_a_shop_with_tiers_is_awarded_not_refused()
    {
        Assert.Equal(HttpStatusCode.OK, (await AdminAsync(HttpMethod.Put, "/api/admin/settings", new { earnRate = 1000 })).StatusCode);
        await TierAsync("Gold", 1_000_000_000_000m, 2m);

        await PaidAsync(8701, 69, 20_000_000_000_000m); // 2 × 10^16 points: more than numeric(18, 2) holds

        Assert.Equal(20_000_000_000_000_000L, await App.BalanceAsync(Shop, 69));
        Assert.Equal("Gold", TierName((await MeAsync(69)).GetProperty("tier")));
    }

    [Fact]
    public async Task Money_spent_counts_orders_that_earned_no_points()
    {
        Assert.Equal(HttpStatusCode.OK, (await AdminAsync(HttpMethod.Put, "/api/admin/settings", new { earnRate = 0 })).StatusCode);
        await RulesAsync(TierBases.MoneySpent, windowMonths: null, graceDays: 0);
        await TierAsync("VIP", 100, 1m);

        await PaidAsync(8801, 70, 250m);

        Assert.Equal("VIP", TierName((await CustomerTierAsync(70)).GetProperty("status")));
    }

    [Fact]
    public async Task An_erased_customer_is_not_brought_back_by_a_later_evaluation()
    {
        await TierAsync("Silver", 100, 1.5m);
        await PaidAsync(8901, 71, 150m);
        await App.DeliverAsync("customers/redact", Shop, $$"""{"shop_domain":"{{Shop}}","customer":{"id":71},"orders_to_redact":[8901]}""");

        await ReviewAsync();
        await using (var conn = await App.Db.OpenConnectionAsync())
        await using (var tx = await conn.BeginTransactionAsync())
        {
            await TierEvaluation.EvaluateAsync(conn, tx, Shop, 71, Clock.GetUtcNow(), default);
            await tx.CommitAsync();
        }

        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM customer_tiers WHERE shop_domain = @shop AND customer_id = 71",
            new { shop = Shop }));
    }

    [Fact]
    public async Task Tiers_and_rules_that_make_no_sense_are_refused_with_the_field_at_fault()
    {
        await TierAsync("Silver", 100, 1.5m);
        var duplicate = await AdminAsync(HttpMethod.Post, "/api/admin/tiers", new { name = "silver", threshold = 150, multiplier = 1.2 });
        Assert.Equal(HttpStatusCode.Conflict, duplicate.StatusCode);
        Assert.Equal("tier_conflict", (await duplicate.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        var invalid = await AdminAsync(HttpMethod.Post, "/api/admin/tiers", new { name = "", threshold = -1, multiplier = 11, perks = new[] { "" } });
        var problem = await invalid.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("invalid_tier", 422), (problem.GetProperty("code").GetString(), (int)invalid.StatusCode));
        foreach (var field in new[] { "name", "threshold", "multiplier", "perks" })
        {
            Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), field);
        }

        var rules = await AdminAsync(HttpMethod.Put, "/api/admin/tiers/rules", new { basis = "visits", windowMonths = 0, graceDays = 400 });
        Assert.Equal("invalid_tier_rules", (await rules.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await AdminAsync(HttpMethod.Put, "/api/admin/tiers/999999",
            new { name = "X", threshold = 1, multiplier = 1 })).StatusCode);
    }
}
