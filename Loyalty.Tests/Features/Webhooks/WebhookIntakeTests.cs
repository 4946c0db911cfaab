namespace Loyalty.Tests.Features.Webhooks;

/// <summary>POST /webhooks: HMAC over the raw body first, stored once per X-Shopify-Webhook-Id, acknowledged fast.</summary>
public sealed class WebhookIntakeTests(RecordingApp app) : AppTests<RecordingApp>(app)
{
    private Task<long> StoredAsync(string shop) =>
        App.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE shop_domain = @shop", new { shop });

    private Task<int> RunsAsync(string webhookId) => RecordingHandler.RunsAsync(App, webhookId);

    [Fact]
    public async Task A_signed_delivery_is_stored_acknowledged_and_then_processed()
    {
        var shop = Shop;

        var response = await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: "wh-1-" + shop);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await App.WaitForDeliveryAsync("wh-1-" + shop, "processed");
        Assert.Equal(1, await RunsAsync("wh-1-" + shop));
        Assert.Equal("""{"id":1}""", await App.ScalarAsync<string>("SELECT payload FROM webhook_deliveries WHERE webhook_id = @id",
            new { id = "wh-1-" + shop }));
    }

    [Theory]
    [InlineData("missing")]
    [InlineData("wrong secret")]
    [InlineData("tampered body")]
    [InlineData("garbage")]
    public async Task A_delivery_with_a_bad_or_missing_hmac_gets_401_and_nothing_is_stored(string how)
    {
        var shop = Shop;
        var genuine = Loyalty.ShopifyApp.Infrastructure.Shopify.ShopifySignatures.SignWebhook("""{"id":1}"""u8, LoyaltyApp.Secret);

        var response = how switch
        {
            "missing" => await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", hmac: ""),
            "wrong secret" => await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", secret: "shpss_other_secret_0123456789abcdef0123"),
            "tampered body" => await App.PostWebhookAsync("test/effect", shop, """{"id":2}""", hmac: genuine),
            _ => await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", hmac: "%%%not base64%%%"),
        };

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("invalid_webhook_hmac", await response.Content.ReadAsStringAsync());
        Assert.Equal(0L, await StoredAsync(shop));
    }

    [Fact]
    public async Task Compliance_topics_with_a_bad_hmac_get_401_as_app_review_requires()
    {
        var shop = Shop;
        foreach (var topic in new[] { "customers/data_request", "customers/redact", "shop/redact" })
        {
            var response = await App.PostWebhookAsync(topic, shop, """{"shop_domain":"x"}""", secret: "shpss_other_secret_0123456789abcdef0123");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        Assert.Equal(0L, await StoredAsync(shop));
    }

    [Fact]
    public async Task The_same_delivery_ten_times_in_a_row_is_stored_and_applied_once()
    {
        var shop = Shop;
        var id = "dup-seq-" + shop;

        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await App.PostWebhookAsync("test/effect", shop, """{"id":7}""", webhookId: id)).StatusCode);
        }

        await App.WaitForDeliveryAsync(id, "processed");
        Assert.Equal(1L, await StoredAsync(shop));
        Assert.Equal(1, await RunsAsync(id));
    }

    [Fact]
    public async Task The_same_delivery_ten_times_at_once_is_stored_and_applied_once()
    {
        var shop = Shop;
        var id = "dup-con-" + shop;

        var responses = await Task.WhenAll(Enumerable.Range(0, 10).Select(
            _ => App.PostWebhookAsync("test/effect", shop, """{"id":8}""", webhookId: id)));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));
        await App.WaitForDeliveryAsync(id, "processed");
        Assert.Equal(1L, await StoredAsync(shop));
        Assert.Equal(1, await RunsAsync(id));
    }

    [Fact]
    public async Task Unknown_topics_and_unknown_shops_are_acknowledged_without_storing_anything()
    {
        var shop = Shop;
        var stranger = LoyaltyApp.NewShop();

        Assert.Equal(HttpStatusCode.OK, (await App.PostWebhookAsync("products/create", shop, """{"id":1}""")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await App.PostWebhookAsync("test/effect", stranger, """{"id":1}""")).StatusCode);

        Assert.Equal(0L, await StoredAsync(shop));
        Assert.Equal(0L, await StoredAsync(stranger));
    }

    [Fact]
    public async Task Deliveries_for_an_uninstalled_shop_are_acknowledged_without_effect_but_compliance_requests_are_kept()
    {
        var shop = Shop;
        var uninstall = "uninstall-" + shop;
        await App.PostWebhookAsync("app/uninstalled", shop, $$"""{"myshopify_domain":"{{shop}}"}""", webhookId: uninstall);
        await App.WaitForDeliveryAsync(uninstall, "processed");

        Assert.Equal(HttpStatusCode.OK, (await App.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: "late-" + shop)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await App.PostWebhookAsync("customers/redact", shop,
            $$"""{"shop_domain":"{{shop}}","customer":{"id":5},"orders_to_redact":[]}""", webhookId: "redact-" + shop)).StatusCode);

        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = @id", new { id = "late-" + shop }));
        await App.WaitForDeliveryAsync("redact-" + shop, "processed");
    }

    [Fact]
    public async Task Malformed_deliveries_are_refused_with_a_4xx_and_never_a_5xx()
    {
        var shop = Shop;

        var noShop = await App.PostWebhookAsync("test/effect", "evil.com", """{"id":1}""");
        var nulBytes = await App.PostWebhookAsync("test/effect", shop, "{\"id\":\u0000}", webhookId: "nul-" + shop);
        var bodyNotJson = await App.PostWebhookAsync("test/effect", shop, "this is not json", webhookId: "nojson-" + shop);

        Assert.Equal(HttpStatusCode.BadRequest, noShop.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, nulBytes.StatusCode);
        Assert.Contains("invalid_payload", await nulBytes.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.OK, bodyNotJson.StatusCode); // Shopify signed it: keep it, and park it with a reason
        await App.WaitForDeliveryAsync("nojson-" + shop, "failed");
        var error = await App.ScalarAsync<string>("SELECT last_error FROM webhook_deliveries WHERE webhook_id = @id", new { id = "nojson-" + shop });
        Assert.Contains("Json", error);
        // parked at once: retrying cannot help
        Assert.Equal(1, await App.ScalarAsync<int>("SELECT attempts FROM webhook_deliveries WHERE webhook_id = @id", new { id = "nojson-" + shop }));
    }
}
