using System.Diagnostics;
using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// A caller's record that it sends (a coupon's <c>coupon_requested_at</c>, a list write's mark) is written beside the cost bucket's
/// reservation when this instance last saw room, and still comes after any wait the shared bucket asks for: the time the saga counts
/// an unanswered send from is never earlier than the send by the wait.
/// </summary>
public sealed class SendRecordTests(ShopifyBudgetTests.BudgetApp app) : ConversionTestBase<ShopifyBudgetTests.BudgetApp>(app)
{
    [Fact]
    public async Task A_send_the_shared_bucket_makes_wait_is_recorded_again_after_the_wait()
    {
        await SeenWithRoomAsync();
        await ShareBucketAsync(available: -5, restoreRate: 10); // another instance spent it: a 10-point call waits 1.5 s
        Shopify.StubDiscountCreate(Shop);
        var records = new List<TimeSpan>();
        var started = Stopwatch.StartNew();

        await CreateAsync(records, started, TimeSpan.FromSeconds(5));

        Assert.Equal(2, records.Count); // beside the reservation, and again once the bucket's wait was over
        Assert.True(records[1] >= TimeSpan.FromSeconds(1.3), $"recorded last at {records[1].TotalSeconds:F2} s, before the wait ended");
        Assert.Equal(1, Creates);
    }

    [Fact]
    public async Task A_reservation_slower_than_the_slack_is_followed_by_the_record_again()
    {
        await SeenWithRoomAsync();
        Shopify.StubDiscountCreate(Shop);
        var records = new List<TimeSpan>();
        var started = Stopwatch.StartNew();
        await using var holder = await App.Db.OpenConnectionAsync();
        await using var tx = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("SELECT 1 FROM shopify_cost_buckets WHERE shop_domain = @shop FOR UPDATE", new { shop = Shop }, tx);

        var sending = CreateAsync(records, started, TimeSpan.FromSeconds(5));
        await Task.Delay(1000);
        await tx.CommitAsync(); // the reservation, held on the bucket's row for a second, goes through without a wait
        await sending;

        Assert.Equal(2, records.Count);
        Assert.True(records[1] >= TimeSpan.FromSeconds(0.9), $"recorded last at {records[1].TotalSeconds:F2} s, before the reservation was over");
        Assert.Equal(1, Creates);
    }

    [Fact]
    public async Task Points_reserved_for_a_waiting_call_whose_record_is_refused_go_back_to_the_shared_bucket()
    {
        await SeenWithRoomAsync();
        await ShareBucketAsync(available: -5, restoreRate: 10); // a 10-point call waits 1.5 s, counted as waiting meanwhile
        Shopify.StubDiscountCreate(Shop);

        await Assert.ThrowsAsync<InvalidOperationException>(() => App.Services.GetRequiredService<ShopifyDiscounts>().CreateCustomerCodeAsync(
            Shop, new ShopifyDiscounts.CustomerCode("777-REFUSED-1", "Loyalty reward", 5, Customer, DateTimeOffset.UtcNow,
                DateTimeOffset.UtcNow.AddDays(90)),
            _ => throw new InvalidOperationException("the lease was lost"), TimeSpan.FromSeconds(5), default));

        Assert.Equal(0, Creates);
        Assert.Equal(0d, await App.ScalarAsync<double>(
            "SELECT waiting FROM shopify_cost_buckets WHERE shop_domain = @shop", new { shop = Shop })); // not held until it lapses
    }

    [Fact]
    public async Task A_call_handed_back_after_its_record_is_not_sent()
    {
        await SeenWithRoomAsync();
        await ShareBucketAsync(available: -100, restoreRate: 10); // 11 s away
        Shopify.StubDiscountCreate(Shop);
        var records = new List<TimeSpan>();
        Assert.True(App.Services.GetRequiredService<ShopifyCostBucket>().LikelyCovers(Shop, 10)); // this instance last saw room

        await Assert.ThrowsAsync<ShopifyThrottledException>(() => CreateAsync(records, Stopwatch.StartNew(), TimeSpan.FromSeconds(0.5)));

        Assert.Single(records); // written beside the reservation, which the caller then undoes
        Assert.Equal(0, Creates);
    }

    [Fact]
    public async Task A_coupon_handed_back_by_the_shared_bucket_after_its_record_is_not_sent_and_its_record_is_cleared()
    {
        await GiveAsync(1000);
        await SeenWithRoomAsync();
        await ShareBucketAsync(available: -100, restoreRate: 10); // 11 s away: more than the request's 0.5 s
        Shopify.StubDiscountCreate(Shop);

        var response = await ConvertAsync(500, "handed-back");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString();
        Assert.Equal(0, Creates);
        Assert.Null(await App.ScalarAsync<DateTime?>("SELECT coupon_requested_at FROM conversions WHERE id = @id", new { id }));
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
    }

    /// <summary>A coupon's creation whose records (the time of each) the test keeps.</summary>
    private Task<string> CreateAsync(List<TimeSpan> records, Stopwatch started, TimeSpan maxWait) =>
        App.Services.GetRequiredService<ShopifyDiscounts>().CreateCustomerCodeAsync(Shop,
            new ShopifyDiscounts.CustomerCode("777-RECORD-1", "Loyalty reward", 5, Customer, DateTimeOffset.UtcNow,
                DateTimeOffset.UtcNow.AddDays(90)),
            _ =>
            {
                lock (records) records.Add(started.Elapsed);
                return Task.CompletedTask;
            }, maxWait, default);

    /// <summary>This instance hears from Shopify that the shop's bucket is nearly full, and that figure is in the shared row.</summary>
    private async Task SeenWithRoomAsync()
    {
        await App.Services.GetRequiredService<ShopifyDiscounts>().FindByCodeAsync(Shop, "777-SEEN-1", default);
        await LoyaltyApp.WaitUntilAsync(async () =>
            await App.ScalarAsync<long>("SELECT count(*) FROM shopify_cost_buckets WHERE shop_domain = @shop", new { shop = Shop }) == 1,
            "the answer in the shared bucket");
    }

    /// <summary>The shared row as another instance's calls left it, newer than any answer this instance can still write.</summary>
    private Task ShareBucketAsync(double available, double restoreRate) => App.ScalarAsync<int>("""
        UPDATE shopify_cost_buckets SET available = @available, restore_rate = @restoreRate, at = clock_timestamp(),
                                        observed_at = clock_timestamp() + interval '1 hour'
        WHERE shop_domain = @shop
        RETURNING 1
        """, new { available, restoreRate, shop = Shop });
}
