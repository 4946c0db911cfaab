namespace Loyalty.Tests.Features.Compliance;

/// <summary>The mandatory compliance topics, carried out for real and checked in the database.</summary>
public sealed class ComplianceTests(RecordingApp app) : AppTests<RecordingApp>(app)
{
    private static string Order(long orderId, long customerId, string email) =>
        $$$"""{"id":{{{orderId}}},"email":"{{{email}}}","customer":{"id":{{{customerId}}},"email":"{{{email}}}","first_name":"Ana"}}""";

    private async Task DeliverAsync(string topic, string shop, string body, string id)
    {
        Assert.Equal(HttpStatusCode.OK, (await App.PostWebhookAsync(topic, shop, body, webhookId: id)).StatusCode);
        await App.WaitForDeliveryAsync(id, "processed");
    }

    /// <summary>shop/redact deletes its own delivery with the shop, so completion shows in the compliance log.</summary>
    private async Task RedactShopAsync(string shop)
    {
        Assert.Equal(HttpStatusCode.OK, (await App.PostWebhookAsync("shop/redact", shop, $$"""{"shop_id":1,"shop_domain":"{{shop}}"}""",
            webhookId: "sr-" + shop)).StatusCode);
        for (var i = 0; i < 300 && await App.ScalarAsync<long>("SELECT count(*) FROM compliance_log WHERE webhook_id = @id",
            new { id = "sr-" + shop }) == 0; i++)
        {
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_data_request_produces_an_export_of_that_customer_for_the_merchant_to_fetch()
    {
        var shop = Shop;
        await DeliverAsync("orders/updated", shop, Order(1001, 777, "ana@example.com"), "o1-" + shop);
        await DeliverAsync("orders/updated", shop, Order(1002, 888, "bob@example.com"), "o2-" + shop);

        await DeliverAsync("customers/data_request", shop,
            $$$"""
            {"shop_domain":"{{{shop}}}","customer":{"id":777,"email":"ana@example.com","phone":null},
            "orders_requested":[1001],"data_request":{"id":9999}}
            """,
            "dr-" + shop);

        var list = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/compliance/data-requests", shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        var summary = Assert.Single(list.EnumerateArray());
        Assert.Equal(777, summary.GetProperty("customerId").GetInt64());
        Assert.Equal(9999, summary.GetProperty("dataRequestId").GetInt64());

        var export = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get,
            $"/api/admin/compliance/data-requests/{summary.GetProperty("id").GetInt64()}", shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        var text = export.GetProperty("data").GetRawText();
        Assert.Contains("ana@example.com", text);
        Assert.DoesNotContain("bob@example.com", text);
        // The request itself carried e-mail and phone: not kept once handled.
        Assert.Null(await App.ScalarAsync<string>("SELECT payload FROM webhook_deliveries WHERE webhook_id = @id", new { id = "dr-" + shop }));
        // Another shop cannot read it.
        var other = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, other);
        var foreign = await App.Http.SendAsync(App.Admin(HttpMethod.Get,
            $"/api/admin/compliance/data-requests/{summary.GetProperty("id").GetInt64()}", other));
        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
    }

    [Fact]
    public async Task Customer_redaction_erases_that_customers_data_and_nobody_elses()
    {
        var shop = Shop;
        await DeliverAsync("orders/updated", shop, Order(2001, 777, "ana@example.com"), "a1-" + shop);
        await DeliverAsync("orders/updated", shop, Order(2002, 888, "bob@example.com"), "b1-" + shop);
        await DeliverAsync("customers/data_request", shop,
            $$$"""{"shop_domain":"{{{shop}}}","customer":{"id":777},"orders_requested":[],"data_request":{"id":1}}""", "dr-" + shop);

        await DeliverAsync("customers/redact", shop,
            $$"""{"shop_domain":"{{shop}}","customer":{"id":777,"email":"ana@example.com","phone":null},"orders_to_redact":[2001]}""",
            "cr-" + shop);

        var anaLeft = await App.ScalarAsync<long>(
            "SELECT count(*) FROM webhook_deliveries WHERE shop_domain = @shop AND payload LIKE '%ana@example.com%'", new { shop });
        Assert.Equal(0L, anaLeft);
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM customer_data_exports WHERE shop_domain = @shop", new { shop }));
        Assert.Contains("bob@example.com", await App.ScalarAsync<string>("SELECT payload FROM webhook_deliveries WHERE webhook_id = @id",
            new { id = "b1-" + shop }));
        var log = await App.ScalarAsync<string>("SELECT summary::text FROM compliance_log WHERE webhook_id = @id", new { id = "cr-" + shop });
        Assert.Contains("webhookPayloadsCleared", log);
        Assert.DoesNotContain("777", log);
    }

    [Fact]
    public async Task Shop_redaction_after_uninstall_erases_every_row_of_that_shop_and_keeps_other_shops()
    {
        var shop = LoyaltyApp.NewShop();
        var neighbour = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, shop);
        await App.InstallAsync(Shopify, neighbour);
        await DeliverAsync("orders/updated", shop, Order(3001, 777, "ana@example.com"), "o-" + shop);
        await DeliverAsync("orders/updated", neighbour, Order(3002, 999, "cy@example.com"), "o-" + neighbour);
        await DeliverAsync("customers/data_request", shop,
            $$$"""{"shop_domain":"{{{shop}}}","customer":{"id":777},"orders_requested":[],"data_request":{"id":2}}""", "dr-" + shop);
        await App.Http.GetAsync($"/auth?shop={shop}"); // leaves an OAuth state row
        await DeliverAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", "u-" + shop);

        await RedactShopAsync(shop);

        foreach (var table in new[] { "shops", "shop_tokens", "webhook_deliveries", "customer_data_exports", "oauth_states" })
        {
            Assert.Equal(0L, await App.ScalarAsync<long>($"SELECT count(*) FROM {table} WHERE shop_domain = @shop", new { shop }));
        }
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM shops WHERE shop_domain = @neighbour", new { neighbour }));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE shop_domain = @neighbour", new { neighbour }));
        Assert.Contains("\"erased\": true", await App.ScalarAsync<string>("SELECT summary::text FROM compliance_log WHERE webhook_id = @id",
            new { id = "sr-" + shop }));
    }

    [Fact]
    public async Task Shop_redaction_for_a_shop_that_installed_again_keeps_its_data()
    {
        var shop = Shop;

        await RedactShopAsync(shop);

        Assert.Contains("shop installed again", await App.ScalarAsync<string>("SELECT summary::text FROM compliance_log WHERE webhook_id = @id",
            new { id = "sr-" + shop }));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop", new { shop }));
        Assert.Equal("installed", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
    }

    [Fact]
    public async Task Points_history_is_exported_and_erased_with_the_customer_while_other_customers_keep_theirs()
    {
        var shop = Shop;
        await DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(5001, 777, 80m, 80m), "p1-" + shop);
        await DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(5002, 888, 30m, 30m), "p2-" + shop);
        await App.Http.PostAsync(LoyaltyApp.ProxyPath("/proxy/api/feedback", shop, 777),
            JsonContent.Create(new { message = "Lovely shop, will return" }));

        await DeliverAsync("customers/data_request", shop,
            $$$"""{"shop_domain":"{{{shop}}}","customer":{"id":777},"orders_requested":[5001],"data_request":{"id":3}}""", "dr-" + shop);
        var exportId = await App.ScalarAsync<long>("SELECT id FROM customer_data_exports WHERE shop_domain = @shop", new { shop });
        var export = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/compliance/data-requests/{exportId}", shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        var data = export.GetProperty("data");
        Assert.Equal(90, data.GetProperty("balance").GetProperty("balance").GetInt64());
        Assert.False(data.GetProperty("balance").TryGetProperty("has_points", out _)); // an index key, not the customer's data
        Assert.Equal(2, data.GetProperty("pointsHistory").GetArrayLength());
        Assert.Contains("Lovely shop", data.GetProperty("feedback").GetRawText());

        await App.ScalarAsync<int>("""
            INSERT INTO expiry_notices (shop_domain, customer_id, notice_key, points, expires_at) VALUES (@shop, 777, 'lot:1', 80, now())
            """, new { shop }); // what the expiry-notices job keeps of a customer it told the shop about

        await DeliverAsync("customers/redact", shop, $$"""{"shop_domain":"{{shop}}","customer":{"id":777},"orders_to_redact":[5001]}""",
            "cr-" + shop);

        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE shop_domain = @shop AND customer_id = 777",
            new { shop }));
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM customer_feedback WHERE shop_domain = @shop AND customer_id = 777",
            new { shop }));
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM expiry_notices WHERE shop_domain = @shop AND customer_id = 777",
            new { shop }));
        Assert.Null(await App.ScalarAsync<long?>("SELECT customer_id FROM order_earnings WHERE shop_domain = @shop AND order_id = 5001",
            new { shop }));
        Assert.Equal(30, await App.BalanceAsync(shop, 888));
        Assert.Contains("\"pointsBalanceErased\": 90", await App.ScalarAsync<string>(
            "SELECT summary::text FROM compliance_log WHERE webhook_id = @id", new { id = "cr-" + shop }));
        // A late redelivery of the redacted customer's order does not award it again.
        await DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(5001, 777, 80m, 80m), "p1-again-" + shop);
        Assert.Equal(0, await App.BalanceAsync(shop, 777));
    }

    [Fact]
    public async Task Shop_redaction_also_erases_the_append_only_ledger()
    {
        var shop = Shop;
        await DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(6001, 777, 50m, 50m), "p-" + shop);
        await DeliverAsync("app/uninstalled", shop, $$"""{"id":1,"myshopify_domain":"{{shop}}"}""", "u-" + shop);

        await RedactShopAsync(shop);

        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM point_transactions WHERE shop_domain = @shop", new { shop }));
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM order_earnings WHERE shop_domain = @shop", new { shop }));
    }
}
