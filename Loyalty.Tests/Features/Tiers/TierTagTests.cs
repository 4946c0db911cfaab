using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Tiers;

namespace Loyalty.Tests.Features.Tiers;

/// <summary>
/// A tier's perk in Shopify: its customer tag follows its members (a customer segment on the tag limits the merchant's discounts to
/// the tier). Judged by the tags the Shopify simulator holds for the customer.
/// </summary>
public sealed class TierTagTests(TierTagTests.TagApp app) : AppTests<TierTagTests.TagApp>(app)
{
    public sealed class TagApp() : AppFixture(new() { ["Jobs:ServerEnabled"] = "false" }, shopifySimulator: true);

    private ShopifySimulator Shopify2 => Fixture.Simulator;

    private async Task<long> TierAsync(string name, decimal threshold, string? customerTag)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", Shop,
            JsonContent.Create(new { name, threshold, multiplier = 1.5m, customerTag })));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
    }

    private Task PaidAsync(long orderId, long customer, decimal amount) =>
        App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(orderId, customer, subtotal: amount, total: amount));

    private Task<int> ApplyAsync() => App.Services.GetRequiredService<CustomerTags>().ApplyDueAsync(default);

    [Fact]
    public async Task A_member_carries_their_tiers_tag_in_Shopify_swaps_it_when_they_rise_and_loses_it_when_they_leave()
    {
        await TierAsync("Silver", 100, "Loyalty Silver");
        await TierAsync("Gold", 300, "Loyalty Gold");

        await PaidAsync(7101, 81, 150m);
        await ApplyAsync();
        Assert.Equal(["Loyalty Silver"], Shopify2.CustomerTags(Shop, 81));

        await PaidAsync(7102, 81, 200m);
        await ApplyAsync();
        Assert.Equal(["Loyalty Gold"], Shopify2.CustomerTags(Shop, 81));

        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(71021, 7102, 200m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(71011, 7101, 150m));
        await ApplyAsync();
        Assert.Empty(Shopify2.CustomerTags(Shop, 81));
    }

    [Fact]
    public async Task A_change_Shopify_could_not_take_is_applied_later_and_the_customers_later_changes_wait_for_it()
    {
        await TierAsync("Silver", 100, "Loyalty Silver");
        await PaidAsync(7201, 82, 150m);
        Shopify2.FailNext(ShopifyFault.ServerError);
        await ApplyAsync();
        Assert.Empty(Shopify2.CustomerTags(Shop, 82));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(72011, 7201, 150m)); // out again: its removal is queued

        await ApplyAsync(); // the first change is not due yet, and the removal waits behind it
        Assert.Empty(Shopify2.CustomerTags(Shop, 82));
        await App.ScalarAsync<int>("UPDATE customer_tag_changes SET next_attempt_at = now() WHERE shop_domain = @shop RETURNING 1",
            new { shop = Shop });
        Assert.Equal(2, await ApplyAsync()); // the add, then the removal: in the other order the tag would stay
        Assert.Empty(Shopify2.CustomerTags(Shop, 82));
    }

    [Fact]
    public async Task A_members_coupon_is_worth_their_tiers_conversion_bonus_in_Shopify()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", Shop,
            JsonContent.Create(new { name = "Gold", threshold = 1_000_000m, multiplier = 1m, conversionBonusPercent = 10m })));
        var gold = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        Assert.True((await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/customers/83/tier", Shop,
            JsonContent.Create(new { tierId = gold, reason = "VIP by contract" })))).IsSuccessStatusCode);
        var give = App.Admin(HttpMethod.Post, "/api/admin/customers/83/points", Shop,
            JsonContent.Create(new { points = 1000, description = "welcome" }));
        give.Headers.Add("Idempotency-Key", "tier-bonus-welcome");
        (await App.Http.SendAsync(give)).EnsureSuccessStatusCode();
        var me = await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, 83));
        Assert.Equal(1.1m, me.GetProperty("rules").GetProperty("pointValue").GetDecimal()); // what My Page offers: 500 points = 550

        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 83))
        {
            Content = JsonContent.Create(new { points = 500 }),
        };
        convert.Headers.Add("Idempotency-Key", "tier-bonus");
        var converted = await App.ConversionSettledAsync(await App.Http.SendAsync(convert));
        var code = (await converted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;

        var discount = Shopify2.DiscountWithCode(code)!;
        Assert.Equal("550.00", discount.Input?["customerGets"]?["value"]?["discountAmount"]?["amount"]?.GetValue<string>());
        Assert.Equal(500, await App.BalanceAsync(Shop, 83)); // the points are the points: the bonus is in the coupon's value
    }

    private async Task SetTierAsync(long customer, long? tierId) => Assert.True((await App.Http.SendAsync(App.Admin(HttpMethod.Put,
        $"/api/admin/customers/{customer}/tier", Shop, JsonContent.Create(new { tierId, reason = "test" })))).IsSuccessStatusCode);

    [Fact]
    public async Task A_tiers_new_tag_moves_onto_its_members_and_the_tag_they_carry_is_the_one_taken_off_when_they_leave()
    {
        var gold = await TierAsync("Gold", 1_000_000m, "Gold A");
        await App.ScalarAsync<int>("INSERT INTO point_balances (shop_domain, customer_id) VALUES (@shop, 84) RETURNING 1", new { shop = Shop });
        await SetTierAsync(84, gold);
        await ApplyAsync();

        Assert.True((await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/tiers/{gold}", Shop,
            JsonContent.Create(new { name = "Gold", threshold = 1_000_000m, multiplier = 1.5m, customerTag = "Gold B" })))).IsSuccessStatusCode);
        await ApplyAsync();
        Assert.Equal(["Gold B"], Shopify2.CustomerTags(Shop, 84));
        Assert.True((await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/tiers/{gold}", Shop,
            JsonContent.Create(new { name = "Gold", threshold = 1_000_000m, multiplier = 1.5m })))).IsSuccessStatusCode); // the tag left out: kept

        await SetTierAsync(84, null);
        await ApplyAsync();
        Assert.Empty(Shopify2.CustomerTags(Shop, 84));
    }

    [Fact]
    public async Task Archiving_a_tier_takes_its_tag_off_its_members_set_by_hand_too()
    {
        var gold = await TierAsync("Gold", 1_000_000m, "Gold");
        await App.ScalarAsync<int>("INSERT INTO point_balances (shop_domain, customer_id) VALUES (@shop, 85) RETURNING 1", new { shop = Shop });
        await SetTierAsync(85, gold);
        await ApplyAsync();
        Assert.Equal(["Gold"], Shopify2.CustomerTags(Shop, 85));

        Assert.Equal(HttpStatusCode.NoContent, (await App.Http.SendAsync(App.Admin(HttpMethod.Delete, $"/api/admin/tiers/{gold}", Shop))).StatusCode);
        await ApplyAsync();

        Assert.Empty(Shopify2.CustomerTags(Shop, 85));
    }

    [Fact]
    public async Task Tags_differing_only_in_case_are_one_tag_in_Shopify_and_a_rise_between_them_keeps_it()
    {
        await TierAsync("Silver", 100, "vip");
        await TierAsync("Gold", 300, "VIP");
        await PaidAsync(7301, 86, 150m);
        await PaidAsync(7302, 86, 200m);

        await ApplyAsync();

        Assert.Equal(["vip"], Shopify2.CustomerTags(Shop, 86), StringComparer.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_bonus_in_a_currency_without_cents_is_rounded_down_to_a_whole_unit()
    {
        await App.ScalarAsync<int>("UPDATE shops SET currency = 'JPY' WHERE shop_domain = @shop RETURNING 1", new { shop = Shop });
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", Shop,
            JsonContent.Create(new { name = "Gold", threshold = 1_000_000m, multiplier = 1m, conversionBonusPercent = 2.5m })));
        var gold = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var give = App.Admin(HttpMethod.Post, "/api/admin/customers/87/points", Shop, JsonContent.Create(new { points = 1000, description = "x" }));
        give.Headers.Add("Idempotency-Key", "jpy-welcome");
        (await App.Http.SendAsync(give)).EnsureSuccessStatusCode();
        await SetTierAsync(87, gold);

        var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 87))
        {
            Content = JsonContent.Create(new { points = 500 }),
        };
        convert.Headers.Add("Idempotency-Key", "jpy-bonus");
        var converted = await App.ConversionSettledAsync(await App.Http.SendAsync(convert));
        var code = (await converted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;

        Assert.Equal("512.00", Shopify2.DiscountWithCode(code)!.Input?["customerGets"]?["value"]?["discountAmount"]?["amount"]?.GetValue<string>());
    }

    [Fact]
    public async Task A_tag_Shopify_could_not_hold_is_refused_when_the_tier_is_saved()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", Shop,
            JsonContent.Create(new { name = "Odd", threshold = 10, multiplier = 1, customerTag = "-bad,tag" })));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("customerTag", out _));
    }
}
