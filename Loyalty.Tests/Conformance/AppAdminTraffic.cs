using System.Collections.Concurrent;
using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Campaigns;
using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Flow;
using Loyalty.ShopifyApp.Features.Points;
using Loyalty.ShopifyApp.Features.Tiers;

namespace Loyalty.Tests.Conformance;

/// <summary>
/// Every GraphQL request the app sends while it is driven through each feature that reaches Shopify, as the Shopify
/// simulator received it (document and variables): install, conversions (metafield created, then updated by digest),
/// coupon cancellation (suspend, usage check, delete) and a used coupon's refused cancellation, coupon validation from the
/// admin and the storefront, campaigns with one code (percentage for everyone; fixed amount for listed customers) and with
/// many (bulk codes and their status), a campaign changed and deactivated, orders/paid with a used code, the coupon report,
/// the missed-order sweep over several pages and the orphan sweep, and the Flow triggers those sent (points earned, coupon
/// issued) for a shop whose workflows use them, a tier's customer tag added and removed, and a
/// campaign limited to the tier through its customer segment (created, then moved onto the tier's new tag).
/// Token exchange is REST and not recorded.
/// </summary>
public sealed class AppAdminTraffic : IAsyncLifetime
{
    private const string Shop = "conformance-shop.myshopify.com";
    private readonly ConcurrentQueue<ShopifySimulator.ReceivedOperation> _received = new();

    public IReadOnlyList<ShopifySimulator.ReceivedOperation> Received => [.. _received];

    public async Task InitializeAsync()
    {
        await using var shopify = await ShopifySimulator.StartAsync(LoyaltyApp.ApiKey, LoyaltyApp.Secret, seed: 14);
        shopify.OnOperation = _received.Enqueue;
        using var unused = new ShopifyFake(); // LoyaltyApp wants one; every call goes to the simulator
        await using var app = await LoyaltyApp.StartAsync(unused, new Dictionary<string, string?>
        {
            ["Shopify:AdminUrlTemplate"] = shopify.AdminUrlTemplate,
            ["Jobs:ServerEnabled"] = "false",
            ["Campaigns:BulkPollIntervalMs"] = "0",
            ["OrderSweep:PageSize"] = "2",
        });
        await DriveAsync(app, shopify);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private static async Task DriveAsync(LoyaltyApp app, ShopifySimulator shopify)
    {
        async Task<JsonElement> Ok(HttpRequestMessage request, string what)
        {
            using var response = await app.ConversionSettledAsync(await app.Http.SendAsync(request)); // a conversion's list written
            var body = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{what} answered {(int)response.StatusCode}: {body}");
            return body.Length == 0 ? default : JsonDocument.Parse(body).RootElement.Clone();
        }
        HttpRequestMessage Admin(HttpMethod method, string path, object? body = null, string? key = null)
        {
            var request = app.Admin(method, path, Shop, body is null ? null : JsonContent.Create(body));
            if (key is not null) request.Headers.Add("Idempotency-Key", key);
            return request;
        }
        HttpRequestMessage Proxy(string path, long customer, object body, string? key = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath(path, Shop, customer))
            {
                Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
            };
            if (key is not null) request.Headers.Add("Idempotency-Key", key);
            return request;
        }

        await Ok(Admin(HttpMethod.Get, "/api/admin/shop"), "install");
        await Ok(Admin(HttpMethod.Post, "/api/admin/customers/777/points", new { points = 5000, description = "welcome" }, "welcome"), "bonus");
        foreach (var trigger in FlowTrigger.All)
        {
            await Ok(ShopifyOutbound.FlowLifecycle(new Uri("/flow/lifecycle", UriKind.Relative), Shop, trigger.Handle, true, DateTimeOffset.UtcNow,
                LoyaltyApp.Secret), "Flow workflow turned on");
        }

        // Conversions: the first creates the customer's metafield, the second updates it by its digest.
        var kept = (await Ok(Proxy("/proxy/api/conversions", 777, new { points = 500 }, "c1"), "conversion")).GetProperty("code").GetString()!;
        var cancelled = (await Ok(Proxy("/proxy/api/conversions", 777, new { points = 300 }, "c2"), "conversion")).GetProperty("code").GetString()!;
        var used = (await Ok(Proxy("/proxy/api/conversions", 777, new { points = 200 }, "c3"), "conversion")).GetProperty("code").GetString()!;
        await Ok(Proxy($"/proxy/api/coupons/{cancelled}/cancel", 777, new { }), "cancel");
        if (!shopify.Redeem(used, 777)) throw new InvalidOperationException("checkout refused the coupon");
        using (var refused = await app.Http.SendAsync(Proxy($"/proxy/api/coupons/{used}/cancel", 777, new { })))
        {
            if (refused.StatusCode != HttpStatusCode.Conflict) throw new InvalidOperationException(
                $"a used coupon's cancel answered {(int)refused.StatusCode}");
        }
        await Ok(Admin(HttpMethod.Post, "/api/admin/coupons/validate", new { code = kept, customerId = 777 }), "admin validation");
        await Ok(Proxy("/proxy/api/coupons/validate", 777, new { code = kept }), "storefront validation");

        // Campaigns: one code for everyone, one for listed customers, many codes; one changed, one deactivated.
        var summer = (await Ok(Admin(HttpMethod.Post, "/api/admin/campaigns", new
        {
            title = "Summer", percentage = 12.5, code = "SUMMER-CONF", usageLimit = 500, oncePerCustomer = true, minimumSubtotal = 50,
            startsAt = DateTimeOffset.UtcNow.AddMinutes(-1), endsAt = DateTimeOffset.UtcNow.AddDays(30),
            combinesWith = new { product = true, order = false, shipping = true },
        }, "summer"), "single-code campaign")).GetProperty("id").GetInt64();
        var vip = (await Ok(Admin(HttpMethod.Post, "/api/admin/campaigns",
            new { title = "VIP", fixedAmount = 7.5, customerIds = new[] { 777L, 778L } }, "vip"),
            "listed-customer campaign")).GetProperty("id").GetInt64();
        await Ok(Admin(HttpMethod.Put, $"/api/admin/campaigns/{summer}",
            new { title = "Summer sale", endsAt = DateTimeOffset.UtcNow.AddDays(60), usageLimit = 800 }),
            "campaign change");
        // Every field a merchant may change, customers added and removed, and the optional ones cleared.
        await Ok(Admin(HttpMethod.Put, $"/api/admin/campaigns/{vip}", new
        {
            percentage = 15, usageLimit = 40, minimumSubtotal = 25, oncePerCustomer = true, customerIds = new[] { 778L, 779L },
            combinesWith = new { product = false, order = true, shipping = false }, startsAt = DateTimeOffset.UtcNow.AddMinutes(-2),
        }), "campaign edit");
        var eligible = shopify.Discounts().Single(d => d.Title.EndsWith($"(campaign {vip})", StringComparison.Ordinal))
            .Input?["context"]?["customers"]?["add"]?.ToJsonString();
        if (eligible != "[\"gid://shopify/Customer/778\",\"gid://shopify/Customer/779\"]")
        {
            throw new InvalidOperationException($"Shopify's discount is open to {eligible} after the edit");
        }
        await Ok(Admin(HttpMethod.Put, $"/api/admin/campaigns/{summer}", new { clear = new[] { "endsAt", "usageLimit", "minimumSubtotal" } }),
            "campaign clear");
        await Ok(Admin(HttpMethod.Delete, $"/api/admin/campaigns/{vip}"), "campaign deactivation");
        var flyers = (await Ok(Admin(HttpMethod.Post, "/api/admin/campaigns",
            new { title = "Flyers", fixedAmount = 5, codes = new { count = 300, prefix = "FLY-", length = 10 } },
            "flyers"), "bulk campaign")).GetProperty("id").GetInt64();
        await app.Services.GetRequiredService<CampaignGeneration>().GenerateAsync(flyers, default);

        // Orders: a paid order that used a campaign code, the report, and the sweeps.
        await Ok(Admin(HttpMethod.Put, "/api/admin/settings", new { earnRate = 1 }), "earning on");
        await app.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(5001, 777, 80m, 90m, discountCodes: ["SUMMER-CONF"]));
        await Ok(Admin(HttpMethod.Get, "/api/admin/reports/coupons"), "coupon report");
        await app.ScalarAsync<int>("UPDATE shops SET installed_at = now() - interval '2 hours' WHERE shop_domain = @Shop", new { Shop });
        for (var i = 0; i < 5; i++) shopify.AddPaidOrder(9001 + i, 888, 10m, 12m, updatedAt: DateTimeOffset.UtcNow.AddMinutes(-5).AddSeconds(i));
        await app.Services.GetRequiredService<MissedOrderSweep>().SweepShopAsync(Shop, default);
        await app.ScalarAsync<int>("UPDATE conversions SET state = 'failed', coupon_status = 'none' WHERE code = @kept", new { kept });
        await app.Services.GetRequiredService<OrphanCouponSweep>().SweepShopAsync(Shop, default);
        await app.Services.GetRequiredService<FlowDelivery>().DeliverDueAsync(default);

        // A tier's customer tag follows its members: added when the merchant puts a customer in it, removed when they take them out.
        var tier = (await Ok(Admin(HttpMethod.Post, "/api/admin/tiers",
            new { name = "Gold", threshold = 1_000_000, multiplier = 2, customerTag = "VIP Gold" }), "tier")).GetProperty("id").GetInt64();
        await Ok(Admin(HttpMethod.Put, "/api/admin/customers/777/tier", new { tierId = tier, reason = "conformance" }), "tier by hand");
        await app.Services.GetRequiredService<CustomerTags>().ApplyDueAsync(default);
        if (!shopify.CustomerTags(Shop, 777).Contains("VIP Gold")) throw new InvalidOperationException("the tier's tag was not added");
        await Ok(Admin(HttpMethod.Put, "/api/admin/customers/777/tier", new { tierId = (long?)null, reason = "conformance" }), "no tier");
        await app.Services.GetRequiredService<CustomerTags>().ApplyDueAsync(default);
        if (shopify.CustomerTags(Shop, 777).Count != 0) throw new InvalidOperationException("the tier's tag was not removed");

        // A campaign limited to the tier: a customer segment on its tag (looked up by name, then created), the discount's context that
        // segment; the tier's tag changed, the segment's query follows it.
        var gold = await Ok(Admin(HttpMethod.Post, "/api/admin/campaigns",
            new { title = "Gold only", percentage = 20, code = "GOLD-CONF", tierId = tier }, "conf-tier-campaign"), "tier campaign");
        if (gold.GetProperty("state").GetString() != "active") throw new InvalidOperationException($"tier campaign: {gold}");
        await Ok(Admin(HttpMethod.Put, $"/api/admin/tiers/{tier}",
            new { name = "Gold", threshold = 1_000_000, multiplier = 2, customerTag = "VIP Gold 2026" }), "tier retagged");
        if (await app.Services.GetRequiredService<TierSegments>().SyncDueAsync(default) != 1)
        {
            throw new InvalidOperationException("the tier's segment was not moved onto its new tag");
        }
        // The merchant deletes the segment in Shopify: the next campaign for the tier makes it again and moves the first one onto it.
        shopify.DeleteSegment(Assert.Single(shopify.Segments(Shop)).Id);
        await Ok(Admin(HttpMethod.Post, "/api/admin/campaigns", new { title = "Gold again", percentage = 10, code = "GOLD-CONF-2", tierId = tier },
            "conf-tier-campaign-2"), "second tier campaign");
        var remade = shopify.Segments(Shop).Single().Id;
        if (shopify.DiscountWithCode("GOLD-CONF")?.Input?["context"]?["customerSegments"]?["add"]?[0]?.GetValue<string>() != remade)
        {
            throw new InvalidOperationException("the first tier campaign was not moved onto the segment made again");
        }
        if (shopify.FlowTriggersReceived.Select(r => r.Handle).Distinct().Count() != 2)
        {
            throw new InvalidOperationException("Flow did not accept both points earned and coupon issued: "
                + string.Join(", ", shopify.FlowTriggersReceived.Select(r => r.Handle)));
        }
    }
}
