using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Infrastructure.Shopify;

/// <summary>
/// Shopify's cost bucket of a shop is one for the whole app, however many instances call: what one instance learns from an
/// answer (and what it reserves) holds the others back, so N instances do not each spend the whole bucket.
/// </summary>
public sealed class SharedCostBucketTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private const string Probe = "query BucketProbe { shop { name } }";

    /// <summary>Shopify's answer to the probe: the bucket nearly empty, refilling slowly.</summary>
    private void StubNearlyEmptyBucket() =>
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WireMock.Matchers.WildcardMatcher(
                "*BucketProbe*")))
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { shop = new { name = "Cool Shop" } },
                extensions = new { cost = new { requestedQueryCost = 10, actualQueryCost = 1,
                    throttleStatus = new { maximumAvailable = 1000.0, currentlyAvailable = 4.0, restoreRate = 0.5 } } },
            }));

    private int ProbesSent() => Shopify.OperationBodies(Shop, "BucketProbe").Count;

    /// <summary>Until the shared row holds what Shopify answered this test's shop.</summary>
    private Task AnswerSharedAsync() => LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
        "SELECT count(*) FROM shopify_cost_buckets WHERE shop_domain = @shop", new { shop = Shop }) == 1, "Shopify's answer in the shared bucket");

    [Fact]
    public async Task Answers_are_written_behind_the_calls_in_the_order_they_came_and_this_instances_next_reservation_reads_the_last()
    {
        var bucket = App.Services.GetRequiredService<ShopifyCostBucket>();
        bucket.Observe(Shop, Probe, 10, 1000, 900, 0.5);
        bucket.Observe(Shop, Probe, 10, 1000, 4, 0.5); // the later answer: nearly empty

        var reserved = await bucket.TryReserveAsync(Shop, 10, TimeSpan.FromMinutes(1), default);

        Assert.True(reserved.Reserved);
        Assert.InRange(reserved.Wait, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(12.1)); // about 6 points short at 0.5 a second
    }

    [Fact]
    public async Task An_answer_older_than_the_one_the_shared_bucket_holds_does_not_replace_it()
    {
        var bucket = App.Services.GetRequiredService<ShopifyCostBucket>();
        bucket.Observe(Shop, Probe, 10, 1000, 4, 0.5);
        await AnswerSharedAsync();
        // Another instance's answer came later than anything this instance will write now, and was written first.
        await App.ScalarAsync<int>("UPDATE shopify_cost_buckets SET observed_at = now() + interval '1 minute' WHERE shop_domain = @shop RETURNING 1",
            new { shop = Shop });

        bucket.Observe(Shop, Probe, 10, 1000, 900, 0.5); // an answer from before it, written after
        var reserved = await bucket.TryReserveAsync(Shop, 10, TimeSpan.FromMinutes(1), default);

        Assert.InRange(reserved.Wait, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(12.1)); // still the later answer's 4 points (900: none)
    }

    [Fact]
    public async Task A_second_instance_waits_for_the_bucket_the_first_instance_saw_nearly_empty_instead_of_sending()
    {
        StubNearlyEmptyBucket();
        await using var second = await LoyaltyApp.StartAsync(Shopify, connectionString: App.ConnectionString);

        await App.Services.GetRequiredService<ShopifyGraphQLClient>().QueryAsync(Shop, Probe, null, TimeSpan.Zero, default);
        Assert.Equal(1, ProbesSent());
        await AnswerSharedAsync(); // written behind the call, a round trip later

        // The second instance never called this shop: only the shared bucket can tell it there are ~4 of 10 points, 12 s away.
        var refused = await Assert.ThrowsAsync<ShopifyThrottledException>(() =>
            second.Services.GetRequiredService<ShopifyGraphQLClient>().QueryAsync(Shop, Probe, null, TimeSpan.FromSeconds(1), default));
        Assert.InRange(refused.RetryAfter, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(13));
        Assert.Equal(1, ProbesSent()); // nothing sent to be answered THROTTLED
    }

    [Fact]
    public async Task Calls_of_two_instances_queue_in_one_bucket_each_waiting_for_what_the_other_reserved()
    {
        StubNearlyEmptyBucket();
        await using var second = await LoyaltyApp.StartAsync(Shopify, connectionString: App.ConnectionString);
        await App.Services.GetRequiredService<ShopifyGraphQLClient>().QueryAsync(Shop, Probe, null, TimeSpan.Zero, default);
        var bucketOf = (LoyaltyApp app) => app.Services.GetRequiredService<ShopifyCostBucket>();

        var first = await bucketOf(App).TryReserveAsync(Shop, 10, TimeSpan.FromMinutes(1), default);
        var then = await bucketOf(second).TryReserveAsync(Shop, 10, TimeSpan.FromMinutes(1), default);

        Assert.True(first.Reserved && then.Reserved);
        Assert.InRange(first.Wait, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(12.1)); // 6 points short at 0.5 a second
        Assert.InRange(then.Wait - first.Wait, TimeSpan.FromSeconds(19), TimeSpan.FromSeconds(20.1)); // behind the first's 10 points
    }

    [Fact]
    public async Task The_shared_bucket_is_an_estimate_written_without_a_disk_flush_so_a_shops_calls_do_not_queue_behind_syncs()
    {
        // Every call of a shop writes its one row; logged, each write held the row until its WAL flush (issue 16).
        Assert.Equal('u', await App.ScalarAsync<char>("SELECT relpersistence FROM pg_class WHERE oid = 'shopify_cost_buckets'::regclass"));
    }

    [Fact]
    public async Task What_one_instance_has_waiting_to_send_still_counts_after_another_instance_hears_from_Shopify()
    {
        StubNearlyEmptyBucket();
        await using var second = await LoyaltyApp.StartAsync(Shopify, connectionString: App.ConnectionString);
        await App.Services.GetRequiredService<ShopifyGraphQLClient>().QueryAsync(Shop, Probe, null, TimeSpan.Zero, default);
        var (mine, theirs) = (App.Services.GetRequiredService<ShopifyCostBucket>(), second.Services.GetRequiredService<ShopifyCostBucket>());
        var waiting = await mine.TryReserveAsync(Shop, 10, TimeSpan.FromMinutes(1), default); // ~12 s away: not sent yet

        // Shopify answers the other instance: its figure cannot count the call still waiting here.
        theirs.Observe(Shop, Probe, 10, 1000, 4, 0.5);
        var next = await theirs.TryReserveAsync(Shop, 10, TimeSpan.FromMinutes(1), default);

        Assert.InRange(waiting.Wait, TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(12.1));
        Assert.InRange(next.Wait, TimeSpan.FromSeconds(31), TimeSpan.FromSeconds(32.1)); // (10 − (4 − 10)) / 0.5, not 12 s
    }
}
