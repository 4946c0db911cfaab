using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Loyalty.Tests.Browser;

/// <summary>VIP tiers on My Page, in Chromium, through the sandbox's emulated app proxy.</summary>
public sealed class TierBrowserTests : SandboxBrowser
{
    [Fact]
    public async Task Customer_sees_what_the_next_tier_needs_then_an_order_lifts_them_into_it_with_its_perks()
    {
        await AdminApiAsync(HttpMethod.Post, "tiers", new { name = "Silver", threshold = 100, multiplier = 1.5, perks = new[] { "Free shipping" } });
        await AdminApiAsync(HttpMethod.Post, "tiers", new { name = "Gold", threshold = 1000, multiplier = 2 });

        await OpenMyPageAsync(1001);
        await Expect(Page.GetByTestId("tier")).ToContainTextAsync("No tier yet");
        await Expect(Page.GetByTestId("tier")).ToContainTextAsync("100 points more to reach Silver.");

        await Page.GotoAsync("/");
        await Page.GetByLabel("Customer", new() { Exact = true }).SelectOptionAsync("1001");
        await Page.GetByLabel("Amount").FillAsync("150");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Send orders/paid" }).ClickAsync();
        await Expect(Page.Locator("#order-out")).ToContainTextAsync("answered HTTP 200");
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM tier_changes WHERE shop_domain = @shop AND customer_id = 1001", new { shop = Shop }) == 1, "the tier change");

        await OpenMyPageAsync(1001);
        var tier = Page.GetByTestId("tier");
        await Expect(tier).ToContainTextAsync("Your tier: Silver (your orders earn ×1.5)");
        await Expect(tier).ToContainTextAsync("850 points more to reach Gold.");
        await Expect(tier.GetByRole(AriaRole.Listitem)).ToHaveTextAsync("Free shipping");
    }

    [Fact]
    public async Task Merchant_adds_tiers_sets_a_customers_tier_by_hand_with_a_reason_and_finds_them_among_its_members()
    {
        await Page.GotoAsync("/admin?shop=" + Shop + "#tiers");
        var add = Page.Locator("#tier-add-form");
        await add.GetByLabel("Name").FillAsync("Gold");
        await add.GetByLabel("Threshold").FillAsync("5000");
        await add.GetByLabel("Multiplier").FillAsync("2");
        await add.GetByLabel("Perks (comma-separated)").FillAsync("Free shipping, Early access");
        await add.GetByRole(AriaRole.Button, new() { Name = "Add" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Status)).ToContainTextAsync("Gold added.");
        await Expect(Page.GetByTestId("tiers-list")).ToContainTextAsync("Free shipping, Early access");

        await Page.GotoAsync("/admin?shop=" + Shop + "#customers");
        await Page.GetByLabel("Shopify customer id").FillAsync("1002");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Look up" }).ClickAsync();
        await Expect(Page.GetByTestId("customer-tier")).ToHaveTextAsync("No tier.");
        await Page.GetByLabel("Set the tier by hand").SelectOptionAsync(new SelectOptionValue { Label = "Gold" });
        await Page.GetByLabel("Reason (kept in the tier history)").FillAsync("Our first customer");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Set tier" }).ClickAsync();
        await Expect(Page.GetByTestId("customer-tier")).ToContainTextAsync("set by hand");
        await Expect(Page.Locator("#customer-tier-history")).ToContainTextAsync("Our first customer");
        await Expect(Page.Locator("#customer-tier-history")).ToContainTextAsync("set by hand");

        await Page.GotoAsync("/admin?shop=" + Shop + "#tiers");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Members of Gold" }).ClickAsync();
        await Expect(Page.GetByTestId("tier-members")).ToContainTextAsync("1002");
        await Expect(Page.GetByTestId("tier-members")).ToContainTextAsync("by hand");
    }

    [Fact]
    public async Task Merchant_limits_a_campaign_to_a_tagged_tier_and_Shopify_lets_only_its_members_use_the_code()
    {
        var gold = await AdminApiAsync(HttpMethod.Post, "tiers", new { name = "Gold", threshold = 100, multiplier = 1, customerTag = "Gold club" });
        await AdminApiAsync(HttpMethod.Post, "tiers", new { name = "Untagged", threshold = 5000, multiplier = 1 });
        await AdminApiAsync(HttpMethod.Put, "customers/1003/tier", new { tierId = gold.GetProperty("id").GetInt64(), reason = "Launch guest" });
        await App.Services.GetRequiredService<Loyalty.ShopifyApp.Features.Tiers.CustomerTags>().ApplyDueAsync(default);

        await Page.GotoAsync("/admin?shop=" + Shop + "#campaigns");
        var form = Page.Locator("#campaign-form");
        await form.GetByLabel("Title", new() { Exact = true }).FillAsync("Gold evening");
        await form.GetByLabel("Value", new() { Exact = true }).FillAsync("20");
        var who = form.GetByLabel("Who may use it");
        await Expect(who.Locator("option")).ToHaveTextAsync(["Everyone", "Gold members only"]); // an untagged tier cannot be a segment
        await who.SelectOptionAsync(new SelectOptionValue { Label = "Gold members only" });
        await Page.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        var row = Page.Locator("#campaign-list tr", new() { HasText = "Gold evening" });
        await Expect(row).ToContainTextAsync("1 / 1", new() { Timeout = 30_000 });

        var discount = Assert.Single(Simulators.Shopify!.Discounts(), d => d.Title.StartsWith("Gold evening", StringComparison.Ordinal));
        Assert.True(Simulators.Shopify.Redeem(discount.Codes[0], 1003));
        Assert.False(Simulators.Shopify.Redeem(discount.Codes[0], 1004));
    }
}
