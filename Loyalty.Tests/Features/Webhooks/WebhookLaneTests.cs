using System.Collections.Concurrent;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Features.Webhooks;

/// <summary>A claimed batch is worked on in lanes at once; what is about one customer or one order stays in order.</summary>
public sealed class WebhookLaneTests
{
    private static long _ids;

    private static WebhookDelivery D(string topic, long? customer, long? order, string shop = "a.myshopify.com") =>
        new(Interlocked.Increment(ref _ids), Guid.NewGuid().ToString(), shop, topic, null, null, "2026-10", "{}", customer, order, 1);

    private static List<List<long>> Lanes(params WebhookDelivery[] deliveries) => Lanes(new Dictionary<(string, long), long?>(), deliveries);

    private static List<List<long>> Lanes(Dictionary<(string, long), long?> customerOfOrder, params WebhookDelivery[] deliveries) =>
        [.. WebhookLanes.Group(deliveries.Reverse(), customerOfOrder).Select(lane => lane.Select(d => d.Id).ToList())];

    [Fact]
    public void An_award_and_its_refund_share_a_lane_and_other_customers_get_their_own()
    {
        var award = D("orders/paid", customer: 7, order: 1);
        var other = D("orders/paid", customer: 8, order: 2);
        var refund = D("refunds/create", customer: null, order: 1);

        Assert.Equal([[award.Id, refund.Id], [other.Id]], Lanes(new Dictionary<(string, long), long?> { [("a.myshopify.com", 1)] = 7 }, award, other,
            refund));
    }

    [Fact]
    public void A_refund_of_an_earlier_order_keeps_its_place_among_that_customers_later_deliveries()
    {
        // Under a floor at zero, a clawback before an award and one after it leave different balances.
        var refundOfEarlier = D("refunds/create", customer: null, order: 4401);
        var laterAward = D("orders/paid", customer: 7, order: 4402);
        var someoneElse = D("orders/paid", customer: 8, order: 4403);

        Assert.Equal([[refundOfEarlier.Id, laterAward.Id], [someoneElse.Id]],
            Lanes(new Dictionary<(string, long), long?> { [("a.myshopify.com", 4401)] = 7 }, refundOfEarlier, laterAward, someoneElse));
    }

    [Fact]
    public void A_refund_of_an_order_not_seen_yet_keeps_its_shop_in_one_lane_and_a_guests_order_its_own()
    {
        var unknownRefund = D("refunds/create", customer: null, order: 9);
        var award = D("orders/paid", customer: 7, order: 10);
        var guestRefund = D("refunds/create", customer: null, order: 11, shop: "b.myshopify.com");
        var otherInB = D("orders/paid", customer: 8, order: 12, shop: "b.myshopify.com");

        Assert.Equal([[unknownRefund.Id, award.Id], [guestRefund.Id], [otherInB.Id]],
            Lanes(new Dictionary<(string, long), long?> { [("b.myshopify.com", 11)] = null }, unknownRefund, award, guestRefund, otherInB));
    }

    [Fact]
    public void A_customers_orders_and_their_refunds_join_into_one_lane_in_arrival_order()
    {
        var first = D("orders/paid", customer: 7, order: 1);
        var refundOfSecond = D("refunds/create", customer: null, order: 3);
        var second = D("orders/paid", customer: 7, order: 3);
        var cancelFirst = D("orders/cancelled", customer: 7, order: 1);

        Assert.Equal([[first.Id, refundOfSecond.Id, second.Id, cancelFirst.Id]],
            Lanes(new Dictionary<(string, long), long?> { [("a.myshopify.com", 3)] = 7 }, first, refundOfSecond, second, cancelFirst));
    }

    [Fact]
    public void A_delivery_about_the_whole_shop_keeps_that_shop_in_one_lane_and_no_other()
    {
        var award = D("orders/paid", customer: 7, order: 1);
        var uninstall = D("app/uninstalled", customer: null, order: null);
        var later = D("orders/paid", customer: 8, order: 2);
        var elsewhere = D("orders/paid", customer: 9, order: 3, shop: "b.myshopify.com");

        Assert.Equal([[award.Id, uninstall.Id, later.Id], [elsewhere.Id]], Lanes(award, uninstall, later, elsewhere));
    }

    [Fact]
    public void The_same_customer_number_in_two_shops_is_two_lanes()
    {
        var a = D("orders/paid", customer: 7, order: 1);
        var b = D("orders/paid", customer: 7, order: 1, shop: "b.myshopify.com");

        Assert.Equal(2, Lanes(a, b).Count);
    }

    /// <summary>Customer 1's delivery finishes only once customer 2's has been handled: only lanes at once can do both.</summary>
    private sealed class GateHandler : IWebhookHandler
    {
        public static readonly ConcurrentDictionary<string, TaskCompletionSource> SecondHandled = new();

        public string Topic => "test/gate";

        public bool RunsForUninstalledShops => false;

        public async Task HandleAsync(WebhookContext context, CancellationToken ct)
        {
            var gate = SecondHandled.GetOrAdd(context.Delivery.ShopDomain,
                _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            if (context.Delivery.CustomerId == 2) gate.TrySetResult();
            else await gate.Task.WaitAsync(TimeSpan.FromSeconds(10), ct);
        }
    }

    [Fact]
    public async Task Two_customers_deliveries_in_one_batch_are_handled_at_once()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["Webhooks:PollIntervalMs"] = "100" },
            services: s => s.AddSingleton<IWebhookHandler>(new GateHandler()));
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);

        // Stored together, so one claim takes both (the app's own intake would wake the processor after the first).
        await app.ScalarAsync<int>("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id)
            VALUES (@shop || '-1', @shop, 'test/gate', '2026-10', '{"customer":{"id":1}}', 1),
                   (@shop || '-2', @shop, 'test/gate', '2026-10', '{"customer":{"id":2}}', 2)
            """, new { shop });

        await app.WaitForDeliveryAsync(shop + "-1", "processed", timeoutMs: 30_000);
        await app.WaitForDeliveryAsync(shop + "-2", "processed");
        Assert.Equal(2, await app.ScalarAsync<int>(
            "SELECT count(*)::int FROM webhook_deliveries WHERE shop_domain = @shop AND status = 'processed' AND attempts = 1", new { shop }));
    }

    [Fact]
    public async Task Lanes_and_writers_that_would_take_more_than_half_the_connection_pool_stop_start_up_naming_both_settings()
    {
        using var shopify = new ShopifyFake();
        var small = new Npgsql.NpgsqlConnectionStringBuilder(await TestDatabase.CreateAsync()) { MaxPoolSize = 20 }.ConnectionString;

        var error = await Assert.ThrowsAnyAsync<Exception>(() => LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Webhooks:Parallelism"] = "9",
            ["Webhooks:IntakeWriters"] = "2",
            ["Database:KeyLookupConnections"] = "8",
        }, connectionString: small));

        var message = error is Microsoft.Extensions.Options.OptionsValidationException o ? string.Join(" ", o.Failures) : error.ToString();
        Assert.Contains("Webhooks:Parallelism (9) + Webhooks:IntakeWriters (2) may hold at most half", message);
        Assert.Contains("main database pool (12 connections", message); // 20 less the key lookups' 8
    }
}
