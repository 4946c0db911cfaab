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
}
