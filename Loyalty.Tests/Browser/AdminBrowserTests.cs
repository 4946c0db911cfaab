using System.Text.RegularExpressions;
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
        await Page.Locator("#campaign-form").GetByLabel("Title", new() { Exact = true }).FillAsync("Winter sale");
        await Page.Locator("#campaign-form").GetByLabel("Value", new() { Exact = true }).FillAsync("15");
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
        await Expect(Page.Locator("[data-metric='pointsIssued'] .value")).ToHaveTextAsync("14,050");
    }

    [Fact]
    public async Task While_earning_is_off_the_admin_opens_on_a_checklist_that_goes_once_the_merchant_sets_a_rate()
    {
        await AdminApiAsync(HttpMethod.Put, "settings", new { earnRate = 0m }); // as a new shop starts

        await Page.GotoAsync("/admin?shop=" + Shop);
        var checklist = Page.Locator("#checklist");
        await Expect(checklist).ToBeVisibleAsync();
        await Expect(checklist).ToContainTextAsync("Customers earn no points yet");
        await Expect(checklist.Locator("li")).ToHaveCountAsync(3);
        await Expect(checklist.Locator("[data-step='chooseSource']")).ToContainTextAsync("Now: This app (ledger).");
        await Expect(checklist.GetByRole(AriaRole.Link, new() { Name = "Open My Page" }))
            .ToHaveAttributeAsync("href", "/sandbox/storefront/apps/loyalty");

        await checklist.GetByRole(AriaRole.Link, new() { Name = "Set the earn rate" }).ClickAsync();
        await Page.GetByLabel("Points per unit of currency").FillAsync("2");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToContainTextAsync("Settings saved.");

        Assert.Equal(2m, (await AdminApiAsync(HttpMethod.Get, "settings")).GetProperty("earnRate").GetDecimal());

        await Page.GetByRole(AriaRole.Link, new() { Name = "Dashboard" }).ClickAsync();
        await Expect(Page.Locator("#view-dashboard")).ToBeVisibleAsync(); // the checklist, shown before, goes once the rate is read
        await Expect(checklist).ToBeHiddenAsync();
    }

    [Fact]
    public async Task What_the_merchant_types_before_the_settings_have_loaded_is_not_overwritten_by_them()
    {
        await AdminApiAsync(HttpMethod.Put, "settings", new { earnRate = 1m });
        var answerSettings = new TaskCompletionSource();
        await Page.RouteAsync("**/api/admin/settings", async route =>
        {
            if (route.Request.Method == "GET") await answerSettings.Task; // a slow network: the form is shown before its values
            await route.ContinueAsync();
        });

        await Page.GotoAsync("/admin?shop=" + Shop + "#settings");
        var rate = Page.GetByLabel("Points per unit of currency");
        var typing = rate.FillAsync("3"); // waits while the form cannot be edited yet
        await Task.WhenAny(typing, Task.Delay(500));
        answerSettings.SetResult();
        await typing;
        await Expect(Page.Locator("#s-key-state")).ToHaveTextAsync(new Regex(".+")); // the settings have been shown
        await Page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToContainTextAsync("Settings saved.");

        Assert.Equal(3m, (await AdminApiAsync(HttpMethod.Get, "settings")).GetProperty("earnRate").GetDecimal());
    }

    [Fact]
    public async Task Merchant_creates_codes_of_one_letter_and_five_digits_from_the_campaign_form()
    {
        await Page.GotoAsync("/admin?shop=" + Shop + "#campaigns");
        await Page.Locator("#campaign-form").GetByLabel("Title", new() { Exact = true }).FillAsync("Seed codes");
        await Page.Locator("#campaign-form").GetByLabel("Value", new() { Exact = true }).FillAsync("5");
        await Page.GetByLabel("Number of codes").FillAsync("2");
        await Page.GetByLabel("Code prefix (optional)").FillAsync("SEED-");
        await Page.GetByLabel("Code format").SelectOptionAsync(new SelectOptionValue { Label = "A pattern" });
        await Page.GetByLabel("Pattern (A letter, 9 digit, X either)").FillAsync("A99999");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Create" }).ClickAsync();

        await Expect(Page.Locator("#campaign-list tr", new() { HasText = "Seed codes" })).ToContainTextAsync(new Regex(@"2 / 2"),
            new() { Timeout = 30_000 });
        var codes = Simulators.Shopify!.Discounts().SelectMany(d => d.Codes).Where(c => c.StartsWith("SEED-", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, codes.Count);
        Assert.All(codes, c => Assert.Matches("^SEED-[A-HJKMNP-Z][2-9]{5}$", c)); // as Shopify received them
    }

    [Fact]
    public async Task Merchant_edits_a_campaign_in_full_and_then_deactivates_it()
    {
        await AdminApiAsync(HttpMethod.Post, "campaigns", new { title = "Staff", fixedAmount = 15, code = "STAFFX", customerIds = new[] { 1001L },
            usageLimit = 5 });
        await Page.GotoAsync("/admin?shop=" + Shop + "#campaigns");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Edit Staff", Exact = true }).ClickAsync();
        var form = Page.Locator("#edit-form");
        await Expect(form.GetByLabel("Only these customer ids (comma-separated; empty: everyone)")).ToHaveValueAsync("1001");

        await form.GetByLabel("Title", new() { Exact = true }).FillAsync("Staff and friends");
        await form.GetByLabel("Discount", new() { Exact = true }).SelectOptionAsync("percentage");
        await form.GetByLabel("Value", new() { Exact = true }).FillAsync("20");
        await form.GetByLabel("Minimum subtotal (optional)").FillAsync("30");
        await form.GetByLabel("Uses per code (optional)").FillAsync("");
        await form.GetByLabel("Only these customer ids (comma-separated; empty: everyone)").FillAsync("");
        await form.GetByLabel("Combines with shipping discounts").CheckAsync();
        await form.GetByRole(AriaRole.Button, new() { Name = "Save changes" }).ClickAsync();

        await Expect(Page.Locator("#toast")).ToHaveTextAsync("Campaign \"Staff and friends\" saved.");
        await Expect(form).ToBeHiddenAsync();
        var discount = Simulators.Shopify!.DiscountWithCode("STAFFX")!; // what Shopify now holds
        Assert.Equal((0.2, "30.00", "ALL", true), (discount.Input!["customerGets"]!["value"]!["percentage"]!.GetValue<double>(),
            discount.Input["minimumRequirement"]!["subtotal"]!["greaterThanOrEqualToSubtotal"]!.GetValue<string>(),
            discount.Input["context"]!["all"]!.GetValue<string>(), discount.Input["combinesWith"]!["shippingDiscounts"]!.GetValue<bool>()));
        Assert.Null(discount.UsageLimit);
        Assert.StartsWith("Staff and friends", discount.Title, StringComparison.Ordinal);

        Page.Dialog += (_, dialog) => dialog.AcceptAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Deactivate Staff and friends", Exact = true }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToContainTextAsync("is deactivated");
        Assert.Equal("EXPIRED", Simulators.Shopify.DiscountWithCode("STAFFX")!.Status);
        await Expect(Page.Locator("#error")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task Merchant_checks_a_code_for_a_customer_and_a_cart()
    {
        await AdminApiAsync(HttpMethod.Post, "campaigns", new { title = "Staff", fixedAmount = 15, code = "STAFF15", customerIds = new[] { 1001L } });
        await Page.GotoAsync("/admin?shop=" + Shop + "#campaigns");
        var form = Page.Locator("#check-form");
        var result = Page.Locator("#check-result");

        await form.GetByLabel("Code", new() { Exact = true }).FillAsync("STAFF15");
        await form.GetByLabel("As seen by customer (id, optional)").FillAsync("1001");
        await form.GetByLabel("Cart subtotal (optional)").FillAsync("10");
        await form.GetByRole(AriaRole.Button, new() { Name = "Check", Exact = true }).ClickAsync();
        await Expect(result).ToHaveTextAsync("STAFF15 is valid: €15.00 off, €10.00 off a cart of €10.00."); // never more than the cart

        await form.GetByLabel("As seen by customer (id, optional)").FillAsync("1002");
        await form.GetByRole(AriaRole.Button, new() { Name = "Check", Exact = true }).ClickAsync();
        await Expect(result).ToHaveTextAsync("STAFF15 is not valid: not for this customer.");
        await Expect(Page.Locator("#error")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task Merchant_sees_a_coupon_used_after_its_cancellation_with_the_amount_at_stake_and_resolves_it()
    {
        // What an order that used a cancelled coupon leaves (as CouponUse records it from orders/paid or the sweep).
        await App.ScalarAsync<int>("""
            INSERT INTO conversions (id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code,
                                     expires_at, coupon_status, cancelled_at, completed_at)
            VALUES ('conv_BROWSERINCIDENT00000000', @Shop, 1001, 'browser-incident', 500, 5.00, 'EUR', 'ledger', 'completed', '1001-INCDNT-5',
                    now() + interval '90 days', 'cancelled', now(), now());
            INSERT INTO coupon_incidents (shop_domain, conversion_id, order_id, kind, code, amount, currency, points, detected_by)
            VALUES (@Shop, 'conv_BROWSERINCIDENT00000000', 424242, 'used_after_cancel', '1001-INCDNT-5', 5.00, 'EUR', 500, 'webhook');
            """, new { Shop });

        await Page.GotoAsync("/admin?shop=" + Shop + "#review");
        var row = Page.Locator("#incident-list tr", new() { HasText = "1001-INCDNT-5" });
        await Expect(row).ToContainTextAsync("424242");
        await Expect(row).ToContainTextAsync("€5.00 (500 points)");
        await Expect(Page.Locator("#orphan-summary")).ToContainTextAsync("has not run yet");
        await row.GetByRole(AriaRole.Textbox).FillAsync("Took the 500 points back with an adjustment");
        await row.GetByRole(AriaRole.Button, new() { Name = "Resolve" }).ClickAsync();

        await Expect(Page.Locator("#toast")).ToContainTextAsync("resolved");
        await Expect(Page.Locator("#incident-list")).ToContainTextAsync("No open coupon incidents.");
        Assert.Equal("Took the 500 points back with an adjustment", await App.ScalarAsync<string>(
            "SELECT resolution FROM coupon_incidents WHERE conversion_id = 'conv_BROWSERINCIDENT00000000' AND resolved_at IS NOT NULL"));
    }
}
