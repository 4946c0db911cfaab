using System.Text.RegularExpressions;
using Loyalty.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Loyalty.Tests.Browser;

/// <summary>The merchant's embedded admin in Chromium: every section loads and its actions work.</summary>
public sealed class AdminBrowserTests : SandboxBrowser
{
    [Fact]
    public async Task Merchant_looks_up_a_customer_adds_a_bonus_creates_a_campaign_and_opens_every_section_without_errors()
    {
        await Page.GotoAsync("/admin?shop=" + Shop + "#customers");
        await Page.GetByLabel("Shopify customer id").FillAsync("1001");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Look up" }).ClickAsync();
        await Expect(Page.GetByTestId("customer-balance")).ToHaveTextAsync("1,500");
        await Expect(Page.Locator("#customer-history")).ToContainTextAsync("Sandbox starting balance");

        await Page.GetByLabel("Points (negative to take away)").FillAsync("250");
        await Page.GetByLabel("Reason (the customer sees it in their history)").FillAsync("Thanks for the review");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Apply" }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToContainTextAsync("Applied: 250 points; balance 1,750.");
        await Expect(Page.GetByTestId("customer-balance")).ToHaveTextAsync("1,750");
        Assert.Equal(1750, await App.BalanceAsync(Shop, 1001));

        await Page.GotoAsync("/admin?shop=" + Shop + "#campaigns");
        await Page.GetByLabel("Title", new() { Exact = true }).FillAsync("Winter sale");
        await Page.GetByLabel("Value", new() { Exact = true }).FillAsync("15");
        await Page.GetByLabel("Number of codes").FillAsync("3");
        await Page.GetByLabel("Code prefix (optional)").FillAsync("WINTER");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();
        var row = Page.Locator("#campaign-list tr", new() { HasText = "Winter sale" });
        await Expect(row).ToContainTextAsync(new Regex(@"3 / 3"), new() { Timeout = 30_000 });
        Assert.Equal(3, Simulators.Shopify!.Discounts().Sum(d => d.Codes.Count(c => c.StartsWith("WINTER", StringComparison.Ordinal))));

        foreach (var (section, text) in new[]
                 {
                     ("review", "Nothing needs review."), ("pos-sync", "Nothing is parked"), ("donations", "No donations yet."),
                     ("dashboard", "Points issued"),
                 })
        {
            await Page.GetByRole(AriaRole.Link, new() { Name = section switch
            {
                "review" => "Needs review", "pos-sync" => "POS sync", "donations" => "Donations", _ => "Dashboard",
            } }).ClickAsync();
            await Expect(Page.Locator($"#view-{section}")).ToContainTextAsync(text);
            await Expect(Page.Locator("#error")).ToBeHiddenAsync();
        }
        // The demo customers' starting balances (1,500 + 300 + 12,000) and the bonus above.
        await Expect(Page.Locator("[data-metric='Points issued'] .value")).ToHaveTextAsync("14,050");
    }
}
