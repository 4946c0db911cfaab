using Dapper;
using Loyalty.ShopifyApp.Features.Points;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Features.Points;

/// <summary>
/// A flash sale's <c>orders/paid</c> deliveries, many customers' in one transaction, are awarded as one set: each order earns exactly
/// what it earns alone, once, and what the set cannot take (a code used, an order already decided, refunds waiting for it, a set that
/// fails) is handled one by one. The processor is driven by the test (processing off, one worker: one transaction for the batch).
/// </summary>
public sealed partial class OrderAwardSetTests(OrderAwardSetTests.SetApp set) : AppTests<OrderAwardSetTests.SetApp>(set)
{
    public sealed class SetApp() : AppFixture(new()
    {
        ["Webhooks:ProcessingEnabled"] = "false", ["Webhooks:Parallelism"] = "1", ["Webhooks:TransactionSize"] = "25",
    });

    private Task<int> ProcessAsync() => App.Services.GetRequiredService<WebhookProcessor>().ProcessDueAsync(CancellationToken.None);

    private async Task EarnOnTheSubtotalAsync(string shop, decimal rate)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", shop,
            JsonContent.Create(new { earnRate = rate, earnBasis = "subtotal" })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private async Task PostAsync(string shop, string topic, string body)
    {
        using var response = await App.PostWebhookAsync(topic, shop, body);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>
    /// Customer 100 + i pays order 5000 + i: 5003 is a test order, 5004 used a code, 5007 was cancelled since, 5008 was paid before
    /// the shop first saved a rule (earning was off then).
    /// </summary>
    private static readonly (long Order, long Customer, decimal Subtotal, bool Test, string[] Codes, bool Cancelled, bool LongAgo)[] Sale =
    [
        (5000, 100, 10.10m, false, [], false, false), (5001, 101, 99.99m, false, [], false, false), (5002, 102, 0.40m, false, [], false, false),
        (5003, 103, 40m, true, [], false, false), (5004, 104, 25m, false, ["SPRING"], false, false),
        (5005, 105, 1234.56m, false, [], false, false), (5006, 106, 0.66m, false, [], false, false), (5007, 107, 30m, false, [], true, false),
        (5008, 108, 50m, false, [], false, true),
    ];

    private static readonly DateTimeOffset LongAgo = new(2020, 1, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>The shops earn 2 on the subtotal, then 1.5; returns a (whole-second) time while 2 was in force.</summary>
    private async Task<DateTimeOffset> TwoThenOneAndAHalfAsync(params string[] shops)
    {
        foreach (var shop in shops) await EarnOnTheSubtotalAsync(shop, 2m);
        await Task.Delay(1100);
        var now = DateTimeOffset.UtcNow;
        var whileTwo = new DateTimeOffset(now.Ticks - now.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
        await Task.Delay(1100);
        foreach (var shop in shops) await EarnOnTheSubtotalAsync(shop, 1.5m);
        return whileTwo;
    }

    private async Task PostSaleOrderAsync(string shop, int i, DateTimeOffset paidAt)
    {
        var (order, customer, subtotal, test, codes, cancelled, longAgo) = Sale[i];
        var at = longAgo ? LongAgo : paidAt;
        var body = ShopifyPayloads.Order(order, customer, subtotal, subtotal + 5m, test, cancelled, discountCodes: codes, processedAt: at,
            updatedAt: at);
        using var response = await App.PostWebhookAsync("orders/paid", shop, body, triggeredAt: at);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>What each of the shop's order decisions and ledger rows says, but ids, creation times and the shop.</summary>
    private Task<string> RecordsAsync(string shop) => App.ScalarAsync<string>("""
        SELECT string_agg(format('%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', e.order_id, e.customer_id, e.status, e.skip_reason, e.basis, e.basis_amount,
                                 e.rate, e.awarded_points, e.priced_at, e.priced_by, e.tier_multiplier)
                          || coalesce(format(' ledger %s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s', t.points, t.kind, t.reference, t.description,
                                             t.balance_after, t.pending_points, t.pending_after, t.occurred_at, t.actor_type, t.rate, t.basis_amount,
                                             t.currency), '')
                          || coalesce(format(' balance %s|%s|%s', b.balance, b.total_earned, b.pending), ''), E'\n' ORDER BY e.order_id)
        FROM order_earnings e
        LEFT JOIN point_transactions t ON t.shop_domain = e.shop_domain AND t.reference = 'order:' || e.order_id
        LEFT JOIN point_balances b ON b.shop_domain = e.shop_domain AND b.customer_id = e.customer_id
        WHERE e.shop_domain = @shop
        """, new { shop })!;

    /// <summary>The events and Flow triggers the shop's awards queued, but their ids and creation times.</summary>
    private Task<string> QueuedAsync(string shop) => App.ScalarAsync<string>("""
        SELECT (SELECT string_agg(type || ' ' || (payload - 'id' - 'createdAt' - 'shop')::text, E'\n' ORDER BY payload->'data'->>'orderId')
                FROM outgoing_events WHERE shop_domain = @shop)
            || E'\n' || (SELECT string_agg(handle || ' ' || dedupe_key || ' ' || customer_id || ' ' || payload::text, E'\n' ORDER BY dedupe_key)
                         FROM flow_outbox WHERE shop_domain = @shop)
        """, new { shop })!;

    /// <summary>The shop has an event endpoint and a workflow using the points-earned trigger.</summary>
    private Task ListenAsync(string shop) => App.ScalarAsync<int>("""
        INSERT INTO event_endpoints (shop_domain, url, secret_protected) VALUES (@shop, 'http://127.0.0.1:9/events', 'unreadable');
        INSERT INTO flow_trigger_usage (shop_domain, trigger, enabled, changed_at) VALUES (@shop, 'loyalty-points-earned', true, now());
        SELECT 1;
        """, new { shop });

    [Fact]
    public async Task Paid_orders_of_many_customers_awarded_together_earn_exactly_what_each_earns_alone()
    {
        // Two shops whose merchants first saved a rule just now: before that, earning was off.
        var (together, alone) = (LoyaltyApp.NewShop(), LoyaltyApp.NewShop());
        foreach (var shop in new[] { together, alone }) await App.InstallAsync(Shopify, shop, earningOff: true);
        await ListenAsync(together);
        await ListenAsync(alone);
        var paidAt = await TwoThenOneAndAHalfAsync(together, alone); // the orders were paid while the rate was 2

        for (var i = 0; i < Sale.Length; i++) await PostSaleOrderAsync(together, i, paidAt);
        await ProcessAsync(); // one transaction: the plain orders as one set, the one with a code on its own
        for (var i = 0; i < Sale.Length; i++)
        {
            await PostSaleOrderAsync(alone, i, paidAt);
            await ProcessAsync(); // alone in its transaction
        }

        // The generator's arithmetic: floor(subtotal × 2), the rate when they were paid; none for the test order, the cancelled one, the
        // one rounding to nothing and the one paid while earning was off.
        foreach (var (_, customer, subtotal, test, _, cancelled, longAgo) in Sale)
        {
            var expected = test || cancelled || longAgo ? 0 : (long)decimal.Floor(subtotal * 2m);
            Assert.Equal(expected, await App.BalanceAsync(together, customer));
            Assert.Equal(expected, await App.BalanceAsync(alone, customer));
        }
        Assert.Equal(await RecordsAsync(alone), await RecordsAsync(together));
        Assert.Equal(await QueuedAsync(alone), await QueuedAsync(together));
        Assert.Contains("points.awarded", await QueuedAsync(together));
        Assert.Contains("loyalty-points-earned order:5005 105", await QueuedAsync(together));
        Assert.Contains($"Handled 8 orders/paid deliveries for {together} as one set; 1 left", App.Log.Tail(500, "as one set"));
        Assert.Equal(0, await App.ScalarAsync<int>(
            "SELECT count(*)::int FROM webhook_deliveries WHERE shop_domain = @shop AND status <> 'processed'", new { shop = together }));
    }

    [Fact]
    public async Task An_order_decided_before_or_with_a_refund_waiting_leaves_the_set_and_is_handled_alone_once()
    {
        await EarnOnTheSubtotalAsync(Shop, 1.5m);
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(6001, 201, 100m, 100m));
        await ProcessAsync(); // awarded already: 150

        await PostAsync(Shop, "refunds/create", ShopifyPayloads.Refund(77, 6002, 40m)); // before its order: waits for the award
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(6001, 201, 100m, 100m)); // sent again under a new id
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(6002, 202, 100m, 100m));
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(6003, 203, 20m, 20m));
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(6004, 204, 30m, 30m));
        await ProcessAsync();

        Assert.Equal(150, await App.BalanceAsync(Shop, 201)); // not twice
        Assert.Equal(150 - 60, await App.BalanceAsync(Shop, 202)); // the refund's share: floor(150 × 40 / 100)
        Assert.Equal(30, await App.BalanceAsync(Shop, 203));
        Assert.Equal(45, await App.BalanceAsync(Shop, 204));
        Assert.Contains($"Handled 2 orders/paid deliveries for {Shop} as one set; 2 left", App.Log.Tail(500, Shop));
        Assert.Equal(5, await App.ScalarAsync<int>( // the first award, the set's two, the refunded order's award and its clawback
            "SELECT count(*)::int FROM point_transactions WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task A_set_that_fails_is_undone_whole_and_its_deliveries_are_handled_one_by_one()
    {
        await EarnOnTheSubtotalAsync(Shop, 1m);
        // The ledger holds order 7002's reference already (its decision lost): the set's insert meets the reference's unique key.
        await using (var conn = await App.Db.OpenConnectionAsync())
        {
            await conn.ExecuteAsync("""
                INSERT INTO point_balances (shop_domain, customer_id) VALUES (@shop, 302);
                INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
                VALUES (@shop, 302, 7, 'order_award', 'order:7002', 'an earlier award', 'system', 7);
                UPDATE point_balances SET balance = 7, total_earned = 7 WHERE shop_domain = @shop AND customer_id = 302;
                """, new { shop = Shop });
        }

        foreach (var (order, customer) in new[] { (7001L, 301L), (7002, 302), (7003, 303) })
        {
            await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(order, customer, 10m, 10m));
        }
        await ProcessAsync();

        var balances = new List<long>();
        foreach (var customer in new long[] { 301, 302, 303 }) balances.Add(await App.BalanceAsync(Shop, customer));
        Assert.Equal([10L, 7L, 10L], balances); // 7002's reference answers as it was: not awarded twice
        Assert.Contains($"A set of 3 orders/paid deliveries for {Shop} failed as a whole", App.Log.Tail(500, Shop));
        Assert.Equal(0, await App.ScalarAsync<int>(
            "SELECT count(*)::int FROM webhook_deliveries WHERE shop_domain = @shop AND status <> 'processed'", new { shop = Shop }));
        Assert.Equal(3, await App.ScalarAsync<int>(
            "SELECT count(*)::int FROM point_transactions WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task A_shop_whose_points_wait_a_pending_period_awards_each_order_on_its_own_as_pending()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { earnRate = 1m, earnBasis = "subtotal", pendingDays = 14 })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(8001, 401, 10m, 10m));
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(8002, 402, 20m, 20m));
        await ProcessAsync();

        Assert.Equal("0/10 0/20", await App.ScalarAsync<string>("""
            SELECT string_agg(balance || '/' || pending, ' ' ORDER BY customer_id) FROM point_balances WHERE shop_domain = @shop
            """, new { shop = Shop }));
        Assert.DoesNotContain(Shop, App.Log.Tail(500, "as one set"));
        Assert.DoesNotContain(Shop, App.Log.Tail(500, "failed as a whole"));
    }

    [Fact]
    public async Task A_shop_with_tiers_awards_each_order_on_its_own_at_the_customers_multiplier()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", Shop,
            JsonContent.Create(new { name = "Silver", threshold = 100m, multiplier = 2m })));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(9001, 501, 120m, 120m)); // 120 points at rate 1: Silver from now
        await ProcessAsync();

        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(9002, 501, 10m, 10m)); // at Silver: 10 × 2
        await PostAsync(Shop, "orders/paid", ShopifyPayloads.Order(9003, 502, 10m, 10m));
        await ProcessAsync();

        Assert.Equal(140, await App.BalanceAsync(Shop, 501));
        Assert.Equal(10, await App.BalanceAsync(Shop, 502));
        Assert.Equal(2, await App.ScalarAsync<int>( // each customer evaluated, as an award in a shop with tiers does
            "SELECT count(*)::int FROM customer_tiers WHERE shop_domain = @shop AND customer_id IN (501, 502)", new { shop = Shop }));
        Assert.DoesNotContain(Shop, App.Log.Tail(500, "as one set"));
        Assert.DoesNotContain(Shop, App.Log.Tail(500, "failed as a whole"));
    }

    /// <summary>
    /// A set's credits read their own customers' balance rows, not the shop's: with 30,000 customers in the shop and the join the
    /// planner picked in the bench while its statistics said the shop was small (a hash join; other joins are switched off here),
    /// PostgreSQL's own count of the balance rows the transaction read stays a few per credit.
    /// </summary>
    [Fact]
    public async Task A_set_of_credits_reads_its_customers_balances_not_every_balance_of_the_shop()
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        await conn.ExecuteAsync("INSERT INTO point_balances (shop_domain, customer_id) SELECT @shop, g FROM generate_series(1, 30000) AS g",
            new { shop = Shop });
        await using var tx = await conn.BeginTransactionAsync();
        await conn.ExecuteAsync("SET LOCAL enable_nestloop = off; SET LOCAL enable_mergejoin = off", transaction: tx);
        const string read = """
            SELECT coalesce(sum(seq_tup_read + idx_tup_fetch), 0)::bigint FROM pg_stat_xact_user_tables WHERE relname = 'point_balances'
            """;
        var before = await conn.ExecuteScalarAsync<long>(read, transaction: tx);
        var entries = Enumerable.Range(0, 11).Select(i => new PointsEntry(Shop, 100 + i * 250, 10 + i, "bonus", $"bonus:set-{i}", "set",
            "staff", OccurredAt: DateTimeOffset.UtcNow)).ToList();

        await Ledger.PostCreditsAsync(conn, tx, Shop, entries, CancellationToken.None);

        var rows = await conn.ExecuteScalarAsync<long>(read, transaction: tx) - before;
        Assert.InRange(rows, entries.Count, 10 * entries.Count);
        await tx.CommitAsync(); // the deferred check: every balance equals its ledger
        Assert.Equal(string.Join(' ', entries.Select(e => $"{e.CustomerId}:{e.Points}")), await App.ScalarAsync<string>("""
            SELECT string_agg(customer_id || ':' || balance, ' ' ORDER BY customer_id) FROM point_balances WHERE shop_domain = @shop AND balance > 0
            """, new { shop = Shop }));
    }
}
