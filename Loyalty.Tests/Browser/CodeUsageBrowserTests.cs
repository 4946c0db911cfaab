using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Loyalty.Tests.Browser;

/// <summary>The merchant looks up which orders used a code, and the coupon report, in the embedded admin's campaigns section.</summary>
public sealed class CodeUsageBrowserTests : SandboxBrowser
{
    [Fact]
    public async Task Merchant_reads_the_coupon_report_for_a_period_and_downloads_it()
    {
        await AdminApiAsync(HttpMethod.Post, "campaigns", new { title = "Autumn sale", fixedAmount = 5m, code = "AUTUMN5" });
        await DeliverOrderAsync(8201, 1001, 80m, "AUTUMN5");
        await DeliverOrderAsync(8202, 1002, 120m, "autumn5");

        await Page.GotoAsync("/admin?shop=" + Shop + "#campaigns");
        var report = Page.Locator("#report-form");
        await report.GetByRole(AriaRole.Button, new() { Name = "Show report" }).ClickAsync();
        var row = Page.Locator("#report-list tbody tr", new() { HasText = "Autumn sale" });
        // Issued, codes redeemed, uses, rate, discount given, revenue: what the two orders' webhooks said (read once the report is shown).
        await Expect(row).ToBeVisibleAsync();
        Assert.Equal(["1", "1", "2", "100%", "€10.00", "€200.00"], (await row.Locator("td").AllTextContentsAsync()).Skip(1));

        var (name, csv) = await DownloadAsync(Page.GetByRole(AriaRole.Button, new() { Name = "Report CSV" }));
        Assert.Equal("coupon-report.csv", name);
        Assert.Contains(",\"Autumn sale\",1,1,2,1,10.00,200.00", csv);

        // A period before the orders: none of them.
        await report.GetByLabel("From").FillAsync(DateTime.Today.AddDays(-20).ToString("yyyy-MM-dd"));
        await report.GetByLabel("To").FillAsync(DateTime.Today.AddDays(-10).ToString("yyyy-MM-dd"));
        await report.GetByRole(AriaRole.Button, new() { Name = "Show report" }).ClickAsync();
        await Expect(row.Locator("td").Nth(3)).ToHaveTextAsync("0");
        await Expect(Page.Locator("#error")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task Merchant_types_a_campaign_code_and_sees_its_orders_totals_and_CSV_and_an_unknown_code_is_said_so()
    {
        await AdminApiAsync(HttpMethod.Post, "campaigns", new { title = "Spring sale", fixedAmount = 5m, code = "SPRING5", oncePerCustomer = true });
        // Two orders used it (each €5.00 off), written in lower case as a customer may type it; a third used no code.
        await DeliverOrderAsync(8101, 1001, 80m, "spring5");
        await DeliverOrderAsync(8102, 1002, 120m, "SPRING5");
        await DeliverOrderAsync(8103, 1003, 50m);

        await Page.GotoAsync("/admin?shop=" + Shop);
        await Page.GetByRole(AriaRole.Link, new() { Name = "Campaigns" }).ClickAsync();
        var code = Page.GetByLabel("Discount code");
        var lookUp = Page.GetByRole(AriaRole.Button, new() { Name = "Look up code" });

        // Unknown: the API's own words and code, and nothing else shown.
        await code.FillAsync("NOPE");
        await lookUp.ClickAsync();
        await Expect(Page.Locator("#error")).ToContainTextAsync("(coupon_not_found)");
        await Expect(Page.Locator("#usage-result")).ToBeHiddenAsync();

        await code.FillAsync("spring5");
        await lookUp.ClickAsync();
        await Expect(Page.Locator("#usage-owner")).ToHaveTextAsync("SPRING5 is a code of the campaign \"Spring sale\".");
        await Expect(Page.Locator("#error")).ToBeHiddenAsync();
        await Expect(Page.Locator("#usage-cards [data-metric=uses] .value")).ToHaveTextAsync("2");
        await Expect(Page.Locator("#usage-cards [data-metric=discountGiven] .value")).ToHaveTextAsync("€10.00");
        await Expect(Page.Locator("#usage-cards [data-metric=revenue] .value")).ToHaveTextAsync("€200.00");
        var rows = Page.Locator("#usage-list tbody tr");
        await Expect(rows).ToHaveCountAsync(2);
        // Newest first: order, customer, discount, order amount.
        Assert.Equal(["8102", "1002", "€5.00", "€120.00"], (await rows.Nth(0).Locator("td").AllTextContentsAsync()).Skip(1));
        Assert.Equal(["8101", "1001", "€5.00", "€80.00"], (await rows.Nth(1).Locator("td").AllTextContentsAsync()).Skip(1));

        var (name, csv) = await DownloadAsync(Page.GetByRole(AriaRole.Button, new() { Name = "Download CSV" }));
        Assert.Equal("code-SPRING5-redemptions.csv", name);
        var lines = csv.TrimEnd('\n').Split('\n');
        Assert.Equal("code,order_id,customer_id,discount_amount,amount_estimated,order_amount,redeemed_at", lines[0]);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("\"SPRING5\",8102,1002,5.00,false,120.00,", lines[1]);
        Assert.StartsWith("\"SPRING5\",8101,1001,5.00,false,80.00,", lines[2]);
    }

    [Fact]
    public async Task Merchant_looks_up_a_customers_loyalty_coupon_that_no_order_used_yet()
    {
        await OpenMyPageAsync(1003);
        await Page.GetByRole(AriaRole.Button, new() { NameRegex = new System.Text.RegularExpressions.Regex("^500 points") }).ClickAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Convert", Exact = true }).ClickAsync();
        await Expect(Page.GetByTestId("new-code")).ToHaveTextAsync(new System.Text.RegularExpressions.Regex("^1003-"));
        var coupon = (await Page.GetByTestId("new-code").TextContentAsync())!;

        await Page.GotoAsync("/admin?shop=" + Shop + "#campaigns");
        await Page.GetByLabel("Discount code").FillAsync(coupon);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Look up code" }).ClickAsync();
        await Expect(Page.Locator("#usage-owner")).ToContainTextAsync($"{coupon} is the loyalty coupon of customer 1003 (conv_");
        await Expect(Page.Locator("#usage-cards [data-metric=uses] .value")).ToHaveTextAsync("0");
        await Expect(Page.Locator("#usage-list")).ToHaveTextAsync("No order has used this code yet.");
    }
}
