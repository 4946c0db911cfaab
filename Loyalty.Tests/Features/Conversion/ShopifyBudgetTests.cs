using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// Shopify's cost-based throttle: calls wait their turn at the shop's bucket before they are sent, and a customer's
/// conversion that would wait too long answers 202 and is finished by the reconciler, never with a throttling error.
/// </summary>
public sealed class ShopifyBudgetTests(ShopifyBudgetTests.BudgetApp app) : ConversionTestBase<ShopifyBudgetTests.BudgetApp>(app)
{
    public sealed class BudgetApp() : ConversionApp(new()
    {
        ["Conversion:RequestShopifyWaitSeconds"] = "0.5",
        ["Conversion:PendingTimeoutSeconds"] = "120",
        ["Jobs:SchedulePollIntervalMs"] = "200",
        ["Jobs:QueuePollIntervalMs"] = "200",
    });

    private int Finds => Shopify.OperationBodies(Shop, "FindLoyaltyCode").Count;

    [Fact]
    public async Task A_conversion_beyond_the_shops_API_budget_answers_202_and_completes_when_the_bucket_allows()
    {
        await GiveAsync(1000);
        // The bucket is empty and refills 5 points a second: the creation can go again in 2 s, more than the request waits.
        Shopify.StubDiscountCreateThrottledOnce(Shop, available: 0, restoreRate: 5);
        Shopify.StubDiscountCreate(Shop, scenario: "throttle-" + Shop, whenState: "refilled");

        var response = await ConvertAsync(500, "over-budget");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("pending", accepted.GetProperty("status").GetString());
        var id = accepted.GetProperty("conversionId").GetString()!;
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer)); // nothing deducted yet

        // No recurring reconciler runs in these tests: the deferral itself must wake one when the bucket allows.
        JsonElement done = default;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            using var poll = await App.Http.GetAsync(LoyaltyApp.ProxyPath($"/proxy/api/conversions/{id}", Shop, Customer));
            if (poll.StatusCode == HttpStatusCode.OK)
            {
                done = await poll.Content.ReadFromJsonAsync<JsonElement>();
                break;
            }
            Assert.Equal(HttpStatusCode.Accepted, poll.StatusCode);
            await Task.Delay(200);
        }

        Assert.Equal(JsonValueKind.Object, done.ValueKind);
        Assert.Equal(await App.ScalarAsync<string>("SELECT code FROM conversions WHERE id = @id", new { id }), done.GetProperty("code").GetString());
        Assert.Equal(500, done.GetProperty("balance").GetInt64());
        Assert.Equal((2, 0), (Creates, Finds)); // the THROTTLED one and the one that went through; nothing to look up
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE reference = @id", new { id }));
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task The_code_is_shown_before_a_metafield_write_the_bucket_has_no_room_for_which_the_reconciler_does_later()
    {
        await GiveAsync(1000);
        // The creation leaves the bucket empty, refilling 5 points a second.
        Shopify.StubDiscountCreate(Shop, available: 0, restoreRate: 5);

        var response = await ConvertAsync(500, "code-first");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString();
        Assert.Empty(Shopify.OperationBodies(Shop, "LoyaltyCoupons")); // not sent: no room in the bucket
        Assert.Null(await App.ScalarAsync<DateTime?>("SELECT metafield_synced_at FROM conversions WHERE id = @id", new { id }));

        await UntilAsync(async () => await App.ScalarAsync<DateTime?>("SELECT metafield_synced_at FROM conversions WHERE id = @id",
            new { id }) is not null);

        Assert.NotNull(await App.ScalarAsync<DateTime?>("SELECT metafield_synced_at FROM conversions WHERE id = @id", new { id }));
        Assert.Contains((await App.ScalarAsync<string>("SELECT code FROM conversions WHERE id = @id", new { id }))!,
            Assert.Single(Shopify.OperationBodies(Shop, "SetLoyaltyCoupons")));
    }

    [Fact]
    public async Task A_cancellation_the_budget_cannot_cover_now_answers_202_and_is_finished_when_the_bucket_allows()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var converted = await ConvertAsync(500, "to-cancel");
        var code = (await converted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;
        // An answer that leaves the bucket empty, refilling 4 points a second: the deletion can go in 2.5 s.
        Shopify.StubFindCode(Shop, null, available: 0, restoreRate: 4);
        await App.Services.GetRequiredService<ShopifyDiscounts>().FindByCodeAsync(Shop, "777-AAAAAA-5", default);

        var response = await App.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", Shop, Customer),
            new StringContent("{}", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(0, Deletes); // not sent
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer)); // not before the coupon is gone
        await UntilAsync(async () => await App.ScalarAsync<string>("SELECT coupon_status FROM conversions WHERE code = @code",
            new { code }) == "cancelled");

        Assert.Equal("cancelled", await App.ScalarAsync<string>("SELECT coupon_status FROM conversions WHERE code = @code", new { code }));
        Assert.Equal(1, Deletes);
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task A_call_the_cost_bucket_cannot_cover_in_time_is_not_sent_and_says_when_to_come_back()
    {
        // An answer that leaves the bucket empty, refilling 1 point a second: a 10-point query can go in 10 s.
        Shopify.StubFindCode(Shop, null, available: 0, restoreRate: 1);
        var shopify = App.Services.GetRequiredService<ShopifyDiscounts>();
        await shopify.FindByCodeAsync(Shop, "777-AAAAAA-5", default);

        var refused = await Assert.ThrowsAsync<ShopifyThrottledException>(() =>
            shopify.FindByCodeAsync(Shop, "777-BBBBBB-5", maxThrottleWait: TimeSpan.FromSeconds(1), default));

        Assert.Equal(1, Finds); // the second was never sent
        Assert.InRange(refused.RetryAfter.TotalSeconds, 8, 10.01);
    }

    [Fact]
    public async Task A_conversion_that_only_waited_for_the_budget_is_created_without_a_lookup()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var id = await WaitedAsync(TimeSpan.FromSeconds(30));

        await ReconcileAsync();

        Assert.Equal("completed", await StateAsync(id));
        Assert.Equal((1, 0), (Creates, Finds));
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task A_conversion_the_budget_never_let_through_fails_after_the_queue_timeout_with_nothing_sent_or_deducted()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var options = App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<ConversionOptions>>().Value;
        var id = await WaitedAsync(TimeSpan.FromSeconds(options.ShopifyQueueTimeoutSeconds + 60));

        await ReconcileAsync();

        Assert.Equal("failed", await StateAsync(id));
        Assert.Equal("shopify_unavailable", await App.ScalarAsync<string>("SELECT failure_code FROM conversions WHERE id = @id", new { id }));
        Assert.Equal((0, 0), (Creates, Finds));
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
    }

    /// <summary>Polls until <paramref name="done"/> (no recurring job runs here: only a wake-up the app scheduled can get there), 30 s at
    /// most.</summary>
    private static async Task UntilAsync(Func<Task<bool>> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline && !await done()) await Task.Delay(200);
    }

    /// <summary>A pending conversion as a deferral leaves it: its coupon never sent to Shopify, due now.</summary>
    private async Task<string> WaitedAsync(TimeSpan age)
    {
        var id = ConversionIds.NewId();
        await App.ScalarAsync<int>("""
            INSERT INTO conversions (id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code,
                                     expires_at, attempts, created_at, last_error)
            VALUES (@id, @shop, @customer, @key, 500, 5, 'EUR', 'ledger', 'pending', @code, now() + interval '90 days', 1,
                    now() - make_interval(secs => @age), 'waiting for Shopify''s API cost bucket')
            """,
            new { id, shop = Shop, customer = Customer, key = "waited-" + id, code = ConversionIds.NewCode(Customer, 5), age = age.TotalSeconds });
        return id;
    }
}
