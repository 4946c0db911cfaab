using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Loyalty.Tests.Browser;

/// <summary>The merchant reads the shop's whole points ledger in the embedded admin: pages, filters, the CSV.</summary>
public sealed class PointTransactionsBrowserTests : SandboxBrowser
{
    [Fact]
    public async Task Merchant_pages_through_the_ledger_newest_first_filters_it_and_downloads_what_the_filter_matches()
    {
        // The demo customers' three starting balances, 30 bonuses for 1002 (1 to 30 points) and then a paid order of 1001.
        for (var i = 1; i <= 30; i++) await AdminApiAsync(HttpMethod.Post, "customers/1002/points", new { points = i, description = $"Bonus {i}" });
        await DeliverOrderAsync(7001, 1001, 120m);

        await Page.GotoAsync("/admin?shop=" + Shop);
        await Page.GetByRole(AriaRole.Link, new() { Name = "Point transactions" }).ClickAsync();
        var rows = Page.Locator("#tx-list tbody tr");
        var more = Page.GetByRole(AriaRole.Button, new() { Name = "More" });
        await Expect(rows).ToHaveCountAsync(34); // one page of 50
        await Expect(Page.Locator("#tx-count")).ToHaveTextAsync("34 transactions shown.");
        await Expect(more).ToBeHiddenAsync();

        // Newest first: the order (with the rate it earned at), then the last bonus.
        Assert.Matches(@"^[A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d{2}\s[AP]M$", await Cells(rows.Nth(0)).Nth(0).TextContentAsync());
        Assert.Equal(["1001", "order", "+120", "1,620", "Order 7001: 1 per unit on €120.00", "Order #7001: 120.00 EUR × 1", "system"],
            (await Cells(rows.Nth(0)).AllTextContentsAsync()).Skip(1));
        var bonus = await Cells(rows.Nth(1)).AllTextContentsAsync();
        Assert.Equal(["1002", "bonus", "+30", "765"], bonus.Skip(1).Take(4)); // 300 + 1 + 2 + … + 30
        Assert.StartsWith("bonus:", bonus[5]); // no order, coupon or donation: its reference
        Assert.Equal("Bonus 30", bonus[6]);
        Assert.StartsWith("staff", bonus[7]);

        // One customer, 25 a page: "More" brings the rest; the CSV holds every row the filter matches, not only those shown.
        await Page.GetByLabel("Customer id (optional)").FillAsync("1002");
        await Page.GetByLabel("Per page").SelectOptionAsync("25");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(rows).ToHaveCountAsync(25);
        await Expect(Page.Locator("#tx-count")).ToHaveTextAsync("25 transactions shown; there are more.");
        await Expect(Cells(rows.Nth(24)).Nth(6)).ToHaveTextAsync("Bonus 6");
        var (name, csv) = await DownloadAsync(Page.GetByRole(AriaRole.Button, new() { Name = "Download CSV" }));
        Assert.Equal("point-transactions.csv", name);
        var lines = csv.TrimEnd('\n').Split('\n');
        Assert.StartsWith("id,created_at,customer_id,kind,points,balance_after,", lines[0]);
        Assert.Equal(31, lines.Length - 1);
        Assert.All(lines.Skip(1), l => Assert.Equal("1002", l.Split(',')[2]));

        await more.ClickAsync();
        await Expect(rows).ToHaveCountAsync(31);
        await Expect(Cells(rows.Nth(25)).Nth(6)).ToHaveTextAsync("Bonus 5");
        await Expect(more).ToBeHiddenAsync();
        await Expect(Page.Locator("#tx-count")).ToHaveTextAsync("31 transactions shown.");

        // One customer's order awards.
        await Page.GetByLabel("Customer id (optional)").FillAsync("1001");
        await Page.GetByLabel("Kind").SelectOptionAsync(new SelectOptionValue { Label = "order" });
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(rows).ToHaveCountAsync(1);
        await Expect(Cells(rows.Nth(0)).Nth(5)).ToHaveTextAsync("Order 7001: 1 per unit on €120.00");
        (_, csv) = await DownloadAsync(Page.GetByRole(AriaRole.Button, new() { Name = "Download CSV" }));
        lines = csv.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.Contains(",1001,order_award,120,1620,7001,,,", lines[1]);
        Assert.Matches(@",1(\.0+)?,120(\.0+)?,EUR,system,", lines[1]); // the rate and the amount it applied to

        // A filter the API refuses: its reason beside the field, and the code in the error banner.
        await Page.GetByLabel("Customer id (optional)").FillAsync("0");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page.Locator("#tx-form .field-error[data-for=customerId]")).ToHaveTextAsync("Customer ids are positive numbers.");
        await Expect(Page.GetByLabel("Customer id (optional)")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(Page.Locator("#error")).ToContainTextAsync("(invalid_filter)");

        // Whole days: today holds the award, tomorrow nothing, and a period that ends before it starts is refused.
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture); // the browser runs in UTC
        var tomorrow = DateTime.UtcNow.AddDays(1).ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);
        await Page.GetByLabel("Customer id (optional)").FillAsync("1001");
        await Page.GetByLabel("From (optional)").FillAsync(today);
        await Page.GetByLabel("To, including that day (optional)").FillAsync(today);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page.Locator("#tx-count")).ToHaveTextAsync("1 transaction shown.");
        await Page.GetByLabel("From (optional)").FillAsync(tomorrow);
        await Page.GetByLabel("To, including that day (optional)").FillAsync(tomorrow);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page.Locator("#tx-list")).ToContainTextAsync("No point transactions match.");
        await Page.GetByLabel("To, including that day (optional)").FillAsync(today);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Show" }).ClickAsync();
        await Expect(Page.Locator("#tx-form .field-error[data-for=from]")).ToHaveTextAsync("Must be before to.");
    }

    private static ILocator Cells(ILocator row) => row.Locator("td");
}
