using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Loyalty.Tests.Browser;

/// <summary>
/// What customers turned points into: on My Page their coupons and donations side by side, and in the admin the totals
/// per cause with the money they represent.
/// </summary>
public sealed class RewardsBrowserTests : SandboxBrowser
{
    [Fact]
    public async Task Customer_sees_donations_with_cause_points_and_value_beside_coupons_and_the_merchant_gets_the_totals_as_CSV()
    {
        // Customer 1001 (1,500 points; a point is worth €0.01) donates, then converts 500 points twice.
        await OpenMyPageAsync(1001);
        await Page.GetByLabel("Cause").FillAsync("Red Cross");
        await Page.GetByLabel("Points", new() { Exact = true }).FillAsync("200");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Donate" }).ClickAsync();
        await Expect(Page.Locator("#lp-status")).ToHaveTextAsync("Thank you: 200 points donated to Red Cross.");

        var rewards = Page.Locator("#lp-coupons tbody tr");
        var donation = Page.Locator("#lp-coupons tr[data-kind=donation]");
        await Expect(rewards).ToHaveCountAsync(1); // shown as soon as it is made
        await Expect(donation.Locator("td").Nth(0)).ToHaveTextAsync(new Regex(@"^Donation to Red Cross200 points · [A-Z][a-z]{2} \d{1,2}, \d{4}$"));
        await Expect(donation.Locator("td").Nth(1)).ToHaveTextAsync("€2.00");
        await Expect(donation.Locator("td").Nth(2)).ToHaveTextAsync("donated");
        await Expect(donation.GetByRole(AriaRole.Button)).ToHaveCountAsync(0);

        var codes = new List<string>();
        for (var i = 0; i < 2; i++)
        {
            await Page.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^500 points") }).ClickAsync();
            await Page.GetByRole(AriaRole.Button, new() { Name = "Convert", Exact = true }).ClickAsync();
            await Expect(rewards).ToHaveCountAsync(2 + i); // the list is refreshed once the code is shown
            codes.Add((await Page.GetByTestId("new-code").TextContentAsync())!);
        }
        Assert.All(codes, c => Assert.StartsWith("1001-", c));
        Assert.NotEqual(codes[0], codes[1]);
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("300");

        // Newest first: the second coupon, the first, the donation.
        Assert.Equal([$"coupon {codes[1]}", $"coupon {codes[0]}", "donation "],
            await rewards.EvaluateAllAsync<string[]>("rs => rs.map(r => r.dataset.kind + ' ' + (r.dataset.code || ''))"));
        var first = Page.Locator($"#lp-coupons tr[data-code='{codes[0]}']");
        await Expect(first.Locator("td").Nth(0)).ToContainTextAsync("500 points · ");
        await Expect(first.Locator("td").Nth(1)).ToHaveTextAsync("€5.00");

        // Cancelling a coupon still works from the same list, and the donation stays as it was.
        await first.GetByRole(AriaRole.Button, new() { Name = $"Cancel coupon {codes[0]}" }).ClickAsync();
        await first.GetByRole(AriaRole.Button, new() { Name = "Yes, cancel and return 500 points" }).ClickAsync();
        await Expect(first.Locator("td").Nth(2)).ToHaveTextAsync("cancelled");
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("800");
        await Expect(donation.Locator("td").Nth(2)).ToHaveTextAsync("donated");

        // The merchant's totals per cause, with their value, and the same as CSV.
        await Page.GotoAsync("/admin?shop=" + Shop);
        await Page.GetByRole(AriaRole.Link, new() { Name = "Donations" }).ClickAsync();
        var cause = Page.Locator("#donation-list tr", new() { HasText = "Red Cross" });
        await Expect(cause).ToBeVisibleAsync();
        Assert.Equal(["Red Cross", "1", "200", "€2.00", "1"], await cause.Locator("td").AllTextContentsAsync());
        var (name, csv) = await DownloadAsync(Page.GetByRole(AriaRole.Button, new() { Name = "Download CSV" }));
        Assert.Equal("donations-by-cause.csv", name);
        Assert.Equal("cause,donations,points,value,currency,customers\n\"Red Cross\",1,200,2.00,EUR,1\n", csv);
    }

    [Fact]
    public async Task Japanese_customer_sees_a_donation_in_Japanese()
    {
        await OpenMyPageAsync(1003, "ja");
        await Page.GetByLabel("寄付先").FillAsync("赤十字");
        await Page.GetByLabel("ポイント数", new() { Exact = true }).FillAsync("1000");
        await Page.GetByRole(AriaRole.Button, new() { Name = "寄付する" }).ClickAsync();
        var donation = Page.Locator("#lp-coupons tr[data-kind=donation]");
        await Expect(donation.Locator("td").Nth(0)).ToHaveTextAsync(new Regex(@"^赤十字への寄付1,000ポイント・\d{4}/\d{2}/\d{2}$"));
        await Expect(donation.Locator("td").Nth(1)).ToHaveTextAsync("€10.00");
        await Expect(donation.Locator("td").Nth(2)).ToHaveTextAsync("寄付済み");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "マイ特典" })).ToBeVisibleAsync();
    }
}
