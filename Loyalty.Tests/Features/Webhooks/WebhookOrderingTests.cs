using Dapper;
using Loyalty.ShopifyApp.Features.Webhooks;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Loyalty.Tests.Features.Webhooks;

/// <summary>
/// What parallel lanes and group commit must not change: a customer's deliveries in arrival order (a refund too, though
/// it names only its order), nothing posted for an erased customer, and one row that cannot be stored failing only its
/// own request. Written by an audit of a5f2e05 and fa4d6e3; the four non-control tests failed on that code. The controls
/// run the same scenarios one lane at a time.
/// </summary>
public sealed class WebhookOrderingTests
{
    private static async Task SetAsync(LoyaltyApp app, string shop, object settings)
    {
        using var response = await app.Http.SendAsync(app.Admin(HttpMethod.Put, "/api/admin/settings", shop, JsonContent.Create(settings)));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<bool> WaitingAsync(LoyaltyApp app, string queryLike, int timeoutMs)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < deadline)
        {
            if (await app.ScalarAsync<int>(
                    "SELECT count(*)::int FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE @q", new { q = queryLike }) > 0)
            {
                return true;
            }
            await Task.Delay(25);
        }
        return false;
    }

    /// <summary>
    /// a5f2e05: a refund's delivery carries only order_id (refund payloads have no customer), so WebhookLanes cannot join it
    /// with a later award of the same customer's other order. Under floor-at-zero the two are order-dependent, and the lane
    /// doc promises arrival order. Arrival order: refund (takes the 20 left) then award (+50) = 50. Today the award
    /// overtakes the refund in another lane: 20 + 50 = 70, then the refund takes 70 (floored) = 0.
    /// The test holds the refund's order lock only to make the interleaving deterministic; the natural race does the same.
    /// </summary>
    [Fact]
    public Task A_refund_of_an_earlier_order_and_a_later_award_of_that_customer_keep_arrival_order_under_floor_at_zero() =>
        RefundThenAwardAsync(parallelism: 8);

    /// <summary>Control: the same with one lane at a time (the order before a5f2e05) passes.</summary>
    [Fact]
    public Task Control_refund_then_award_with_one_lane_at_a_time_keeps_arrival_order() => RefundThenAwardAsync(parallelism: 1);

    private static async Task RefundThenAwardAsync(int parallelism)
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string,
            string?> { ["Webhooks:Parallelism"] = parallelism.ToString() });
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);
        await SetAsync(app, shop, new { earnRate = 1m, earnBasis = "total", negativeBalancePolicy = "floor_at_zero" });

        await app.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(4401, 777, 100m, 100m));
        var spend = app.Admin(HttpMethod.Post, "/api/admin/customers/777/points", shop,
            JsonContent.Create(new { points = -80, description = "spent" }));
        spend.Headers.Add("Idempotency-Key", "spend-" + shop);
        Assert.Equal(HttpStatusCode.Created, (await app.Http.SendAsync(spend)).StatusCode);
        Assert.Equal(20, await app.BalanceAsync(shop, 777));

        await using var holder = new NpgsqlConnection(app.ConnectionString); // another instance's session, not the app's pool
        await holder.OpenAsync();
        await holder.ExecuteAsync("SELECT pg_advisory_lock(hashtextextended(@key, 0))", new { key = $"order:{shop}:4401" });

        // Stored together, as the intake stores them (refund: no customer; award: customer and order), refund first.
        await app.ScalarAsync<int>("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id, order_id)
            VALUES (@shop || '-refund', @shop, 'refunds/create', '2026-10', @refund, NULL, 4401),
                   (@shop || '-award', @shop, 'orders/paid', '2026-10', @award, 777, 4402)
            """, new { shop, refund = ShopifyPayloads.Refund(21, 4401, 100m), award = ShopifyPayloads.Order(4402, 777, 50m, 50m) });

        Assert.True(await WaitingAsync(app, "%pg_advisory_xact_lock%", 15_000), "the refund never reached its order lock");
        // Today the award (another lane) completes while the refund waits; in arrival order it would wait behind it.
        try { await app.WaitForDeliveryAsync(shop + "-award", "processed", timeoutMs: 3_000); } catch (TimeoutException) { }
        await holder.ExecuteAsync("SELECT pg_advisory_unlock(hashtextextended(@key, 0))", new { key = $"order:{shop}:4401" });

        await app.WaitForDeliveryAsync(shop + "-refund", "processed");
        await app.WaitForDeliveryAsync(shop + "-award", "processed");
        Assert.Equal(50, await app.BalanceAsync(shop, 777));
    }

    /// <summary>
    /// a5f2e05: customers/redact is keyed by its customer only (orders_to_redact is ignored) and a refund by its order only,
    /// so they run in different lanes. A refund that read the order's customer before the redaction committed posts its
    /// clawback after it: the erased customer's balance row and a ledger row naming them come back. (When orders_to_redact
    /// lists the refunded order, the redaction's UPDATE of webhook_deliveries meets the refund's locked delivery row
    /// instead: a deadlock, retried.) The test's locks only fix the interleaving.
    /// </summary>
    [Fact]
    public Task A_refund_racing_customers_redact_leaves_no_data_of_the_erased_customer() => RedactThenRefundAsync(parallelism: 8);

    /// <summary>Control: the same with one lane at a time (the order before a5f2e05) leaves nothing of customer 777.</summary>
    [Fact]
    public Task Control_redact_then_refund_with_one_lane_at_a_time_leaves_nothing_of_the_customer() => RedactThenRefundAsync(parallelism: 1);

    private static async Task RedactThenRefundAsync(int parallelism)
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string,
            string?> { ["Webhooks:Parallelism"] = parallelism.ToString() });
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);
        await SetAsync(app, shop, new { earnRate = 1m, earnBasis = "total" });
        await app.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(4401, 777, 100m, 100m));
        Assert.Equal(100, await app.BalanceAsync(shop, 777));

        await using var rowHolder = await app.Db.OpenConnectionAsync();
        await using var rowTx = await rowHolder.BeginTransactionAsync();
        await rowHolder.ExecuteAsync("SELECT 1 FROM order_earnings WHERE shop_domain = @shop AND order_id = 4401 FOR NO KEY UPDATE", new { shop },
            rowTx);
        await using var lockHolder = new NpgsqlConnection(app.ConnectionString); // another instance's session, not the app's pool
        await lockHolder.OpenAsync();
        await lockHolder.ExecuteAsync("SELECT pg_advisory_lock(hashtextextended(@key, 0))", new { key = $"order:{shop}:4401" });

        await app.ScalarAsync<int>("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id, order_id)
            VALUES (@shop || '-redact', @shop, 'customers/redact', '2026-10', @redact, 777, NULL),
                   (@shop || '-refund', @shop, 'refunds/create', '2026-10', @refund, NULL, 4401)
            """, new
        {
            shop,
            redact = $$"""{"shop_domain":"{{shop}}","customer":{"id":777},"orders_to_redact":[]}""",
            refund = ShopifyPayloads.Refund(21, 4401, 100m),
        });

        // The redaction has deleted the balance and waits at the order row; the refund waits at its order lock.
        Assert.True(await WaitingAsync(app, "%UPDATE order_earnings SET customer_id = NULL%", 15_000), "the redaction never reached the order row");
        await WaitingAsync(app, "%pg_advisory_xact_lock%", 5_000); // today: yes (another lane); in arrival order: no
        await lockHolder.ExecuteAsync("SELECT pg_advisory_unlock(hashtextextended(@key, 0))", new { key = $"order:{shop}:4401" });
        await WaitingAsync(app, "%INSERT INTO point_balances%", 5_000); // the refund read customer 777, waits for the redaction
        await rowTx.CommitAsync();

        await app.WaitForDeliveryAsync(shop + "-redact", "processed");
        await AppWaitSettledAsync(app, shop + "-refund");
        Assert.Equal(0, await app.ScalarAsync<int>(
            "SELECT count(*)::int FROM point_balances WHERE shop_domain = @shop AND customer_id = 777", new { shop }));
        Assert.Equal(0, await app.ScalarAsync<int>(
            "SELECT count(*)::int FROM point_transactions WHERE shop_domain = @shop AND customer_id = 777", new { shop }));
    }

    /// <summary>
    /// Pre-existing, found by the control above (not from the audited commits): a refund of an order whose customer was
    /// redacted reads order_earnings.customer_id NULL into a non-nullable long (OrderEarnings.ApplyRefundAsync) and posts its
    /// clawback to customer 0: a phantom customer 0 with a negative balance (and, in POS mode, a deduction queued for it).
    /// </summary>
    [Fact]
    public async Task A_refund_after_customers_redact_posts_nothing_to_customer_0()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);
        await SetAsync(app, shop, new { earnRate = 1m, earnBasis = "total" });
        await app.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(4401, 777, 100m, 100m));
        await app.DeliverAsync("customers/redact", shop, $$"""{"shop_domain":"{{shop}}","customer":{"id":777},"orders_to_redact":[4401]}""");

        using var response = await app.PostWebhookAsync("refunds/create", shop, ShopifyPayloads.Refund(21, 4401, 100m), webhookId: shop + "-refund");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await AppWaitSettledAsync(app, shop + "-refund");

        Assert.Equal(0, await app.ScalarAsync<int>(
            "SELECT count(*)::int FROM point_transactions WHERE shop_domain = @shop AND customer_id = 0", new { shop }));
    }

    private static Task AppWaitSettledAsync(LoyaltyApp app, string webhookId) => LoyaltyApp.WaitUntilAsync(async () =>
        await app.ScalarAsync<string>("SELECT status FROM webhook_deliveries WHERE webhook_id = @webhookId", new { webhookId })
            is "processed" or "failed", "the refund settled", 20_000);

    /// <summary>
    /// fa4d6e3: one row the INSERT refuses fails every request of its group. Here the other row's shop is gone (as after a
    /// shop/redact that committed between that request's shop check and the group INSERT): the foreign key refuses it,
    /// and an unrelated, valid delivery of another shop gets an error (a 500) instead of being stored. Safe (nothing is
    /// acknowledged without a row; Shopify retries) but the blast radius is the whole group, up to IntakeGroupMaxRows.
    /// </summary>
    [Fact]
    public async Task A_refused_row_does_not_fail_the_other_deliveries_of_its_group()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);

        var inbox = new WebhookInbox(app.Db, Options.Create(new WebhookOptions { IntakeWriters = 1 }));
        IncomingDelivery D(string id, string s) => new(id, s, "orders/paid", null, null, "2026-10", "{}", null, 1);
        var gone = inbox.StoreAsync(D(shop + "-gone", "gone-" + shop), CancellationToken.None);
        var valid = inbox.StoreAsync(D(shop + "-valid", shop), CancellationToken.None);
        await inbox.StartAsync(CancellationToken.None); // both are queued: the first free writer takes them as one group
        try
        {
            await Assert.ThrowsAnyAsync<PostgresException>(() => gone);
            var id = await valid; // today: throws the other row's foreign-key violation
            Assert.NotNull(id);
        }
        finally
        {
            await inbox.StopAsync(CancellationToken.None);
        }
    }
}
