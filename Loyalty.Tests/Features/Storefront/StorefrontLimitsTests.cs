using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Loyalty.Tests.Features.Storefront;

/// <summary>
/// What one storefront visitor can make the app do: rate limits per customer, per shop and for code checks (429 with
/// Retry-After), code checks that cannot tell another customer's code from an unknown one, and a short wait for the
/// shop's Shopify budget. Each test starts an app of its own, with the limits it tests.
/// </summary>
public sealed class StorefrontLimitsTests : IAsyncLifetime
{
    private AppFixture? _fixture;
    private string Shop { get; set; } = null!;

    private LoyaltyApp App => _fixture!.App;

    private ShopifyFake Shopify => _fixture!.Shopify;

    private async Task StartAsync(Dictionary<string, string?>? settings = null)
    {
        _fixture = await AppFixture.StartAsync(settings);
        Shop = await _fixture.NewShopAsync();
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_fixture is not null) await _fixture.DisposeAsync();
    }

    private Task<HttpResponseMessage> SessionAsync(long customer, string? shop = null) =>
        App.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/session", shop ?? Shop, customer));

    private Task<HttpResponseMessage> CheckAsync(string code, long customer) =>
        App.Http.PostAsync(LoyaltyApp.ProxyPath("/proxy/api/coupons/validate", Shop, customer),
            new StringContent(JsonSerializer.Serialize(new { code }), Encoding.UTF8, "application/json"));

    private static async Task AssertRateLimitedAsync(HttpResponseMessage response)
    {
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.InRange(response.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 60);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("rate_limited", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    private async Task LoyaltyCouponAsync(long owner, string code, string status = "active", int expiresInDays = 30) =>
        await App.ScalarAsync<int>("""
            INSERT INTO conversions (id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code,
                                     expires_at, coupon_status, metafield_synced_at, completed_at)
            VALUES ('conv_' || substr(md5(@code), 1, 24), @shop, @owner, @code, 500, 500, 'EUR', 'ledger', 'completed', @code,
                    now() + make_interval(days => @expiresInDays), @status, now(), now())
            """, new { shop = Shop, owner, code, status, expiresInDays });

    [Fact]
    public async Task Past_the_per_customer_limit_the_storefront_answers_429_with_Retry_After()
    {
        await StartAsync(new() { ["Storefront:CustomerRequestLimit"] = "5" });

        var allowed = new List<HttpStatusCode>();
        for (var i = 0; i < 5; i++) allowed.Add((await SessionAsync(777)).StatusCode);
        var refused = await SessionAsync(777);
        var anotherCustomer = await SessionAsync(778);

        Assert.All(allowed, status => Assert.Equal(HttpStatusCode.OK, status));
        await AssertRateLimitedAsync(refused);
        Assert.Equal(HttpStatusCode.OK, anotherCustomer.StatusCode);
    }

    [Fact]
    public async Task Past_the_per_shop_limit_every_visitor_of_that_shop_waits_and_other_shops_do_not()
    {
        await StartAsync(new() { ["Storefront:ShopRequestLimit"] = "4" });
        var otherShop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, otherShop);

        for (var customer = 1; customer <= 4; customer++) Assert.Equal(HttpStatusCode.OK, (await SessionAsync(customer)).StatusCode);

        await AssertRateLimitedAsync(await SessionAsync(5));
        Assert.Equal(HttpStatusCode.OK, (await SessionAsync(5, otherShop)).StatusCode);
    }

    [Fact]
    public async Task Logged_out_visitors_replaying_a_signed_url_cannot_use_up_the_shop_s_limit_for_its_customers()
    {
        await StartAsync(new() { ["Storefront:ShopRequestLimit"] = "4" });
        // A signed URL of a logged-out visitor, replayed (the signature carries no one-time value).
        var guest = LoyaltyApp.ProxyPath("/proxy/api/session", Shop, null);
        for (var i = 0; i < 4; i++) Assert.Equal(HttpStatusCode.OK, (await App.Http.GetAsync(guest)).StatusCode);
        await AssertRateLimitedAsync(await App.Http.GetAsync(guest));

        Assert.Equal(HttpStatusCode.OK, (await SessionAsync(777)).StatusCode); // the shop's customers still get in
    }

    [Fact]
    public async Task Code_checks_have_their_own_tighter_limit_per_customer()
    {
        await StartAsync(new() { ["Storefront:CustomerCodeCheckLimit"] = "2" });

        Assert.Equal(HttpStatusCode.OK, (await CheckAsync("NOPE-1", 777)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await CheckAsync("NOPE-2", 777)).StatusCode);
        await AssertRateLimitedAsync(await CheckAsync("NOPE-3", 777));
        Assert.Equal(HttpStatusCode.OK, (await SessionAsync(777)).StatusCode); // the rest of the storefront still answers
        Assert.Equal(HttpStatusCode.OK, (await CheckAsync("NOPE-4", 778)).StatusCode);
    }

    [Fact]
    public async Task Another_customers_code_and_an_unknown_code_answer_identically()
    {
        await StartAsync();
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/9");
        Shopify.StubFindCode(Shop, null); // the campaign's creation first looks its code up
        var campaign = App.Admin(HttpMethod.Post, "/api/admin/campaigns", Shop,
            JsonContent.Create(new { title = "VIP", fixedAmount = 5, code = "VIP5", customerIds = new[] { 5L } }));
        campaign.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        Assert.Equal(HttpStatusCode.Created, (await App.Http.SendAsync(campaign)).StatusCode);
        await LoyaltyCouponAsync(777, "777-ACTIVE-500");
        await LoyaltyCouponAsync(777, "777-EXPIRD-500", expiresInDays: -1);
        await LoyaltyCouponAsync(777, "777-USEDUP-500", status: "used");

        async Task<(HttpStatusCode Status, string? Type, string Body)> AnswerAsync(string code)
        {
            var response = await CheckAsync(code, 888);
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();
            body.Remove("code"); // the code sent, echoed
            return (response.StatusCode, response.Content.Headers.ContentType?.ToString(), body.ToJsonString());
        }

        var lookups = Shopify.OperationBodies(Shop, "FindLoyaltyCode").Count;

        var unknown = await AnswerAsync("888-NOSUCH-500");
        Assert.Equal(HttpStatusCode.OK, unknown.Status);
        Assert.Contains("\"reason\":\"not_found\"", unknown.Body);
        foreach (var notTheirs in new[] { "777-ACTIVE-500", "777-expird-500", "777-USEDUP-500", "VIP5" })
        {
            Assert.Equal(unknown, await AnswerAsync(notTheirs));
        }
        Assert.Equal(lookups, Shopify.OperationBodies(Shop, "FindLoyaltyCode").Count); // neither asked Shopify
    }

    [Fact]
    public async Task A_code_check_with_an_empty_cost_bucket_gives_up_after_the_short_wait()
    {
        await StartAsync(new() { ["Storefront:ShopifyWaitSeconds"] = "1" });
        await LoyaltyCouponAsync(777, "777-ABCDEF-500");
        // Shopify's answer says the bucket is empty and refills 1 point a second: the next lookup (10 points) is 10 s away.
        Shopify.StubFindCode(Shop, "gid://shopify/DiscountCodeNode/1", "Loyalty", available: 0, restoreRate: 1);
        Assert.Equal(HttpStatusCode.OK, (await CheckAsync("777-ABCDEF-500", 777)).StatusCode);

        var clock = Stopwatch.StartNew();
        var response = await CheckAsync("777-ABCDEF-500", 777);
        clock.Stop();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        Assert.Equal("shopify_busy", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.InRange(response.Headers.RetryAfter?.Delta?.TotalSeconds ?? 0, 1, 11);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"answered after {clock.Elapsed}");
        Assert.Single(Shopify.OperationBodies(Shop, "FindLoyaltyCode")); // the second was never sent
    }
}
