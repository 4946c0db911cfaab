using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Flow;

namespace Loyalty.Tests.Features.Flow;

/// <summary>
/// Shopify Flow triggers (issue 18): a merchant turns on a workflow using one of the app's triggers, Shopify's lifecycle callback
/// says so, and from then on the facts the trigger reports reach Flow through <c>flowTriggerReceive</c>, once each, with the
/// fields the trigger's extension declares. Judged by the Shopify simulator's record of the triggers it accepted, which it checks
/// against the app's own <c>extensions/*/shopify.extension.toml</c>, as Shopify does against the deployed extensions.
/// </summary>
public sealed class FlowTriggerTests(FlowTriggerTests.FlowApp app) : AppTests<FlowTriggerTests.FlowApp>(app)
{
    public sealed class FlowApp : AppFixture
    {
        public FlowApp()
            : this(new ShiftedClock())
        {
        }

        private FlowApp(ShiftedClock clock)
            : base(new() { ["Jobs:ServerEnabled"] = "false" }, s => s.AddSingleton<TimeProvider>(clock), shopifySimulator: true) => Clock = clock;

        public ShiftedClock Clock { get; }
    }

    private ShopifySimulator Flow => Fixture.Simulator;

    public override async Task InitializeAsync()
    {
        Fixture.Clock.Shift = TimeSpan.Zero;
        await base.InitializeAsync();
    }

    private static readonly Uri Lifecycle = new("/flow/lifecycle", UriKind.Relative);

    /// <summary>Shopify's lifecycle callback: a workflow of the shop using <paramref name="trigger"/> turned on or off.</summary>
    private async Task<HttpStatusCode> WorkflowAsync(string trigger, bool enabled, DateTimeOffset? at = null, string? shop = null)
    {
        using var response = await App.Http.SendAsync(ShopifyOutbound.FlowLifecycle(Lifecycle, shop ?? Shop, trigger, enabled,
            at ?? DateTimeOffset.UtcNow, LoyaltyApp.Secret));
        return response.StatusCode;
    }

    private Task<int> SendAsync() => App.Services.GetRequiredService<FlowDelivery>().DeliverDueAsync(default);

    /// <summary>The payloads Flow accepted for this test's shop under <paramref name="handle"/>.</summary>
    private List<JsonElement> Received(string handle, string? shop = null) =>
        [.. Flow.FlowTriggersReceived.Where(r => r.Shop == (shop ?? Shop) && r.Handle == handle)
            .Select(r => JsonDocument.Parse(r.PayloadJson).RootElement)];

    private Task PaidAsync(long orderId, long customer, decimal amount, string? shop = null) =>
        App.DeliverAsync("orders/paid", shop ?? Shop, ShopifyPayloads.Order(orderId, customer, subtotal: amount, total: amount));

    private async Task<JsonElement> StatusAsync() =>
        await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/flow", Shop))).Content.ReadFromJsonAsync<JsonElement>();

    private static JsonElement TriggerIn(JsonElement status, string handle) =>
        status.GetProperty("triggers").EnumerateArray().Single(t => t.GetProperty("handle").GetString() == handle);

    [Fact]
    public async Task Points_earned_reach_Flow_once_per_order_with_the_fields_the_extension_declares_and_only_where_a_workflow_uses_them()
    {
        var quiet = await Fixture.NewShopAsync(); // no workflow uses the trigger there
        Assert.Equal(HttpStatusCode.OK, await WorkflowAsync(FlowTrigger.PointsEarned.Handle, enabled: true));

        await PaidAsync(9101, 41, 120m);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9101, 41, subtotal: 120m, total: 120m)); // Shopify delivers it again
        await PaidAsync(9102, 41, 30m, quiet);
        Assert.Equal(1, await SendAsync());
        Assert.Equal(0, await SendAsync());

        var earned = Assert.Single(Received(FlowTrigger.PointsEarned.Handle));
        Assert.Equal(41, earned.GetProperty("customer_id").GetInt64());
        Assert.Equal(120m, earned.GetProperty("Points").GetDecimal());
        Assert.Equal("#9101", earned.GetProperty("Order name").GetString());
        Assert.Empty(Received(FlowTrigger.PointsEarned.Handle, quiet));
        var status = TriggerIn(await StatusAsync(), FlowTrigger.PointsEarned.Handle);
        Assert.True(status.GetProperty("usedByAWorkflow").GetBoolean());
        Assert.Equal(1, status.GetProperty("delivered").GetInt64());
    }

    [Fact]
    public async Task Pending_points_reach_Flow_as_earned_when_they_are_released_not_when_the_order_is_paid()
    {
        Assert.Equal(HttpStatusCode.OK, (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { pendingDays = 14 })))).StatusCode);
        await WorkflowAsync(FlowTrigger.PointsEarned.Title, enabled: true); // named by its title: matched as well as by its handle
        await PaidAsync(9201, 42, 80m);
        await SendAsync();
        Assert.Empty(Received(FlowTrigger.PointsEarned.Handle));

        Fixture.Clock.Shift = TimeSpan.FromDays(15);
        await App.Services.GetRequiredService<ShopifyApp.Features.Pending.PendingRelease>().ReleaseDueAsync(default);
        await SendAsync();

        var earned = Assert.Single(Received(FlowTrigger.PointsEarned.Handle));
        Assert.Equal(80m, earned.GetProperty("Points").GetDecimal());
    }

    [Fact]
    public async Task A_coupon_issued_reaches_Flow_with_the_code_Shopify_holds()
    {
        await WorkflowAsync(FlowTrigger.CouponIssued.Handle, enabled: true);
        await PaidAsync(9301, 43, 500m);
        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 43, Fixture.Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points = 300 }),
        };
        convert.Headers.Add("Idempotency-Key", "flow-coupon");
        Assert.True((await App.Http.SendAsync(convert)).IsSuccessStatusCode);
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM conversions WHERE shop_domain = @shop AND state = 'completed'", new { shop = Shop }) == 1, "the conversion");

        await SendAsync();

        var issued = Assert.Single(Received(FlowTrigger.CouponIssued.Handle));
        var code = issued.GetProperty("Coupon code").GetString();
        Assert.Contains(Flow.AllDiscounts(), d => d.Codes.Contains(code!) && !d.Deleted);
        Assert.Equal(300m, issued.GetProperty("Points").GetDecimal());
        Assert.Equal(300m, issued.GetProperty("Coupon value").GetDecimal()); // point value 1
        Assert.Equal(43, issued.GetProperty("customer_id").GetInt64());
    }

    [Fact]
    public async Task Points_expiring_soon_reach_Flow_once_with_their_date()
    {
        Assert.Equal(HttpStatusCode.OK, (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { expiryMode = "earned", expiryMonths = 1, expiryNoticeDays = 14 })))).StatusCode);
        await WorkflowAsync(FlowTrigger.PointsExpiring.Handle, enabled: true);
        await PaidAsync(9401, 44, 70m);
        var expires = await App.ScalarAsync<DateTime>(
            "SELECT loyalty_expires_at(occurred_at, 1) FROM point_transactions WHERE shop_domain = @shop AND reference = 'order:9401'",
            new { shop = Shop });

        // A month on, ten days before they expire (the shop's access token is refreshed on the way: a year would outlive it).
        Fixture.Clock.Shift = expires - DateTime.UtcNow - TimeSpan.FromDays(10);
        var notices = App.Services.GetRequiredService<ExpiryNotices>();
        await notices.NoticeDueAsync(default);
        await notices.NoticeDueAsync(default);
        await SendAsync();

        var expiring = Assert.Single(Received(FlowTrigger.PointsExpiring.Handle));
        Assert.Equal(70m, expiring.GetProperty("Points").GetDecimal());
        Assert.Equal(FlowTriggers.Instant(new DateTimeOffset(expires, TimeSpan.Zero)), expiring.GetProperty("Expires at").GetString());
    }

    [Fact]
    public async Task A_trigger_queued_before_the_workflow_was_turned_off_is_skipped_and_an_older_callback_changes_nothing()
    {
        var on = DateTimeOffset.UtcNow;
        await WorkflowAsync(FlowTrigger.PointsEarned.Handle, enabled: true, on);
        await PaidAsync(9501, 45, 10m);
        await WorkflowAsync(FlowTrigger.PointsEarned.Handle, enabled: false, on.AddSeconds(5));
        await WorkflowAsync(FlowTrigger.PointsEarned.Handle, enabled: true, on.AddSeconds(1)); // late, and older: ignored

        await SendAsync();
        await PaidAsync(9502, 45, 10m);
        await SendAsync();

        Assert.Empty(Received(FlowTrigger.PointsEarned.Handle));
        var status = TriggerIn(await StatusAsync(), FlowTrigger.PointsEarned.Handle);
        Assert.False(status.GetProperty("usedByAWorkflow").GetBoolean());
        Assert.Equal(1, status.GetProperty("skipped").GetInt64());
    }

    [Fact]
    public async Task A_trigger_Shopify_could_not_take_is_sent_again_after_its_back_off_and_only_once()
    {
        await WorkflowAsync(FlowTrigger.PointsEarned.Handle, enabled: true);
        await PaidAsync(9601, 46, 25m);
        Flow.FailNext(ShopifyFault.ServerError, count: 2); // the client tries a mutation once: two runs fail

        await SendAsync();
        Assert.Empty(Received(FlowTrigger.PointsEarned.Handle));
        Assert.Equal(0, await SendAsync()); // not due yet: backing off
        await App.ScalarAsync<int>("UPDATE flow_outbox SET next_attempt_at = now() WHERE shop_domain = @shop RETURNING 1", new { shop = Shop });
        await SendAsync();
        await App.ScalarAsync<int>("UPDATE flow_outbox SET next_attempt_at = now() WHERE shop_domain = @shop RETURNING 1", new { shop = Shop });
        Assert.Equal(1, await SendAsync());
        Assert.Equal(0, await SendAsync());

        Assert.Single(Received(FlowTrigger.PointsEarned.Handle));
        Assert.Equal(3, await App.ScalarAsync<int>("SELECT attempts FROM flow_outbox WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task Erasing_a_customer_deletes_the_triggers_queued_about_them_before_Flow_received_them()
    {
        await WorkflowAsync(FlowTrigger.PointsEarned.Handle, enabled: true);
        await PaidAsync(9701, 47, 15m);
        await PaidAsync(9702, 48, 15m);

        await App.DeliverAsync("customers/redact", Shop, $$"""{"shop_domain":"{{Shop}}","customer":{"id":47},"orders_to_redact":[9701]}""");
        await SendAsync();

        Assert.Equal([48L], Received(FlowTrigger.PointsEarned.Handle).Select(p => p.GetProperty("customer_id").GetInt64()));
        Assert.Equal(0, await App.ScalarAsync<long>(
            "SELECT count(*) FROM flow_outbox WHERE shop_domain = @shop AND (customer_id = 47 OR payload ->> 'customer_id' = '47')",
            new { shop = Shop }));
    }

    [Fact]
    public async Task A_lifecycle_callback_not_signed_with_the_apps_secret_or_not_one_at_all_is_refused()
    {
        using var forged = ShopifyOutbound.FlowLifecycle(Lifecycle, Shop, FlowTrigger.PointsEarned.Handle, true, DateTimeOffset.UtcNow,
            "not-the-apps-secret");
        using var refused = await App.Http.SendAsync(forged);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Equal("invalid_flow_hmac", (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        var body = "{\"has_enabled_flow\":true}"u8.ToArray();
        using var partial = new HttpRequestMessage(HttpMethod.Post, Lifecycle) { Content = new ByteArrayContent(body) };
        partial.Headers.Add("X-Shopify-Hmac-SHA256", Convert.ToBase64String(
            System.Security.Cryptography.HMACSHA256.HashData(Encoding.UTF8.GetBytes(LoyaltyApp.Secret), body)));
        using var bad = await App.Http.SendAsync(partial);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Equal("invalid_lifecycle_callback", (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());

        Assert.False(TriggerIn(await StatusAsync(), FlowTrigger.PointsEarned.Handle).GetProperty("usedByAWorkflow").GetBoolean());
    }
}
