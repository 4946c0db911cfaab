using System.Text.RegularExpressions;
using Loyalty.ShopifyApp.Features.Conversion;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Loyalty.Tests.Browser;

/// <summary>A demo customer on My Page, in Chromium, through the emulated app proxy of the sandbox.</summary>
public sealed class MyPageBrowserTests : SandboxBrowser
{
    [Fact]
    public async Task Customer_earns_from_an_order_converts_500_copies_the_code_sees_it_listed_and_cancels_another_for_the_points_back()
    {
        // Earn: the sandbox home sends a signed orders/paid webhook; customer 1002 starts with 300 points, earns 1 per euro.
        await Page.GotoAsync("/");
        await Page.GetByLabel("Customer", new() { Exact = true }).SelectOptionAsync("1002");
        await Page.GetByLabel("Amount").FillAsync("250");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Send orders/paid" }).ClickAsync();
        await Expect(Page.Locator("#order-out")).ToContainTextAsync("answered HTTP 200");
        await LoyaltyApp.WaitUntilAsync(async () => await App.BalanceAsync(Shop, 1002) == 550, "the order's 250 points to be awarded");

        await OpenMyPageAsync(1002);
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("550");

        // Convert 500 points.
        await Page.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^500 points") }).ClickAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Convert", Exact = true }).ClickAsync();
        await Expect(Page.GetByTestId("new-code")).ToHaveTextAsync(new Regex("^1002-"));
        var code = await Page.GetByTestId("new-code").TextContentAsync();
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("50");
        Assert.NotNull(Simulators.Shopify!.DiscountWithCode(code!)); // the code exists in "Shopify"

        // Copy it.
        await Context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Copy code" }).ClickAsync();
        await Expect(Page.GetByRole(AriaRole.Status)).ToContainTextAsync($"Code {code} copied");
        Assert.Equal(code, await Page.EvaluateAsync<string>("navigator.clipboard.readText()"));

        // It is in the list, active.
        var row = Page.Locator($"#lp-coupons tr[data-code='{code}']");
        await Expect(row).ToContainTextAsync("active");

        // Another order and another code, then cancel that one: the points come back.
        await Page.APIRequest.PostAsync("/sandbox/orders", new() { DataObject = new { customerId = 1002, amount = 500 } });
        await LoyaltyApp.WaitUntilAsync(async () => await App.BalanceAsync(Shop, 1002) == 550, "the second order's points");
        await Page.ReloadAsync();
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("550");
        await Page.GetByLabel("Or enter an amount").FillAsync("500");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Convert", Exact = true }).ClickAsync();
        await Expect(Page.Locator("#lp-result")).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("new-code")).ToHaveTextAsync(new Regex("^1002-"));
        var second = await Page.GetByTestId("new-code").TextContentAsync();
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("50");

        var secondRow = Page.Locator($"#lp-coupons tr[data-code='{second}']");
        await secondRow.GetByRole(AriaRole.Button, new() { Name = $"Cancel coupon {second}" }).ClickAsync();
        await secondRow.GetByRole(AriaRole.Button, new() { Name = "Yes, cancel and return 500 points" }).ClickAsync();
        await Expect(secondRow).ToContainTextAsync("cancelled");
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("550");
        await Expect(row).ToContainTextAsync("active");

        Assert.Null(Simulators.Shopify.DiscountWithCode(second!)); // deleted in "Shopify"
        Assert.NotNull(Simulators.Shopify.DiscountWithCode(code!));
        Assert.Equal(550, await App.BalanceAsync(Shop, 1002));
    }

    [Fact]
    public async Task Merchant_sets_a_pending_period_and_the_customer_sees_an_orders_points_pending_with_their_day_and_then_available()
    {
        await Page.GotoAsync("/admin?shop=" + Shop + "#settings");
        await Page.GetByLabel("Pending period (days after payment before points can be spent; 0 = at once)").FillAsync("14");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToContainTextAsync("Settings saved.");

        await DeliverOrderAsync(7700001, 1001, 80m);
        await OpenMyPageAsync(1001);

        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("1,500"); // the demo starting balance: the order's points are not spendable
        await Expect(Page.GetByTestId("pending")).ToHaveTextAsync("80");
        var day = DateTimeOffset.UtcNow.AddDays(14).ToString("MMM d, yyyy", System.Globalization.CultureInfo.InvariantCulture);
        await Expect(Page.Locator("#lp-pending-orders li")).ToHaveTextAsync($"#1: 80 points available from {day}");
        await Expect(Page.Locator("#lp-history li").First).ToContainTextAsync("+80 (pending)");

        await Page.GotoAsync("/admin?shop=" + Shop + "#customers");
        await Page.GetByLabel("Shopify customer id").FillAsync("1001");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Look up" }).ClickAsync();
        await Expect(Page.GetByTestId("customer-pending")).ToHaveTextAsync("80");
        await Expect(Page.Locator("#customer-pending")).ToContainTextAsync(day);

        // The sandbox moves the program's time past the period: the customer's next visit finds the points available.
        await Page.GotoAsync("/");
        await Page.GetByRole(AriaRole.Button, new() { Name = "+7 days" }).ClickAsync();
        await Expect(Page.Locator("#clock-out")).ToContainTextAsync("(7 days ahead)");
        await Page.GetByRole(AriaRole.Button, new() { Name = "+7 days" }).ClickAsync();
        await Expect(Page.Locator("#clock-out")).ToContainTextAsync("(14 days ahead)");
        await Page.GetByRole(AriaRole.Button, new() { Name = "+1 day" }).ClickAsync();
        await Expect(Page.Locator("#clock-out")).ToContainTextAsync("(15 days ahead)");
        await OpenMyPageAsync(1001);
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("1,580");
        await Expect(Page.GetByTestId("pending")).ToBeHiddenAsync();
        await Expect(Page.Locator("#lp-history li").First).ToContainTextAsync("pending period over");
    }

    [Fact]
    public async Task Merchant_makes_points_expire_12_months_after_they_were_earned_and_the_customer_sees_when_and_later_sees_them_gone()
    {
        await Page.GotoAsync("/admin?shop=" + Shop + "#settings");
        await Page.GetByLabel("Points expire", new() { Exact = true }).SelectOptionAsync("earned");
        await Page.GetByLabel("Expiry period (months: after each point was earned, or without activity)").FillAsync("12");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToContainTextAsync("Settings saved.");

        await OpenMyPageAsync(1002); // the demo's 300 starting points, earned today
        var day = DateTimeOffset.UtcNow.AddMonths(12).ToString("MMM d, yyyy", System.Globalization.CultureInfo.InvariantCulture);
        await Expect(Page.GetByTestId("expiring")).ToHaveTextAsync($"300 points expire on {day} unless you use them first");

        await Page.GotoAsync("/admin?shop=" + Shop + "#customers");
        await Page.GetByLabel("Shopify customer id").FillAsync("1002");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Look up" }).ClickAsync();
        await Expect(Page.GetByTestId("customer-expiring")).ToContainTextAsync("300");

        // A year on in the program's time: the customer's next visit finds the points expired, and says so in the history.
        await Page.GotoAsync("/");
        await Page.GetByRole(AriaRole.Button, new() { Name = "+1 year" }).ClickAsync();
        await Expect(Page.Locator("#clock-out")).ToContainTextAsync("(365 days ahead)");
        await OpenMyPageAsync(1002);
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("0");
        await Expect(Page.GetByTestId("expiring")).ToBeHiddenAsync();
        await Expect(Page.Locator("#lp-history li").First).ToContainTextAsync("300 points earned on");
        await Expect(Page.Locator("#lp-history li").First).ToContainTextAsync("expired after 12 months");

        await Page.GotoAsync("/admin?shop=" + Shop + "#dashboard");
        await Expect(Page.Locator("[data-metric=pointsExpired] .value")).ToHaveTextAsync("300");
    }

    [Fact]
    public async Task Customer_on_the_Japanese_storefront_gets_My_Page_in_Japanese_with_ja_numbers_money_and_dates()
    {
        // The browser itself speaks en-US (SandboxBrowser): the storefront's language decides, not the browser's.
        await OpenMyPageAsync(1003, "ja");

        await Expect(Page.Locator("#loyalty-my-page")).ToHaveAttributeAsync("lang", "ja");
        await Expect(Page.GetByRole(AriaRole.Heading, new() { Name = "ポイント残高" })).ToBeVisibleAsync();
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("12,000");
        await Expect(Page.Locator("#lp-big")).ToHaveTextAsync("12,000ポイント");
        await Expect(Page.GetByRole(AriaRole.Button, new() { Name = "500ポイント = €5.00" })).ToBeVisibleAsync();
        await Expect(Page.Locator("#lp-history li").First).ToContainTextAsync(new Regex(@"^\d{4}/\d{2}/\d{2} · ")); // en-US: "Jan 5, 2026"

        // A refusal the API answers with its stable code, in Japanese with the amount formatted.
        await Page.GetByLabel("またはポイント数を入力").FillAsync("50");
        await Page.GetByRole(AriaRole.Button, new() { Name = "交換する", Exact = true }).ClickAsync();
        await Expect(Page.Locator("#lp-error")).ToHaveTextAsync("交換できる最低ポイントに届いていません。最低交換ポイント: 500ポイント。");

        // A conversion: the status, the new coupon's state, value and expiry date in Japanese.
        await Page.GetByRole(AriaRole.Button, new() { Name = "500ポイント = €5.00" }).ClickAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "交換する", Exact = true }).ClickAsync();
        await Expect(Page.GetByTestId("new-code")).ToHaveTextAsync(new Regex("^1003-"));
        var code = await Page.GetByTestId("new-code").TextContentAsync();
        await Expect(Page.Locator("#lp-status")).ToHaveTextAsync($"完了: 500ポイントをコード{code}に交換しました。");
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("11,500");
        var row = Page.Locator($"#lp-coupons tr[data-code='{code}']");
        await Expect(row.Locator("td").Nth(1)).ToHaveTextAsync("€5.00");
        await Expect(row.Locator("td").Nth(2)).ToHaveTextAsync("有効");
        await Expect(row.Locator("td").Nth(3)).ToHaveTextAsync(new Regex(@"^\d{4}/\d{2}/\d{2}$"));
        await ScreenshotAsync("my-page-ja.png");
    }

    [Fact]
    public async Task Customer_checks_a_campaign_code_and_sees_what_it_takes_off_their_cart()
    {
        await AdminApiAsync(HttpMethod.Post, "campaigns", new { title = "Spring", percentage = 10, code = "SPRING10", minimumSubtotal = 50 });
        await OpenMyPageAsync(1001);
        var check = Page.GetByRole(AriaRole.Button, new() { Name = "Check", Exact = true });
        var result = Page.Locator("#lp-check-result");

        await Page.GetByLabel("Discount code", new() { Exact = true }).FillAsync("spring10");
        await Page.GetByLabel("Cart subtotal (optional)").FillAsync("120");
        await check.ClickAsync();
        await Expect(result).ToHaveTextAsync("spring10 can be used: 10 % off, €12.00 off a cart of €120.00.");

        await Page.GetByLabel("Cart subtotal (optional)").FillAsync("40");
        await check.ClickAsync();
        await Expect(result).ToHaveTextAsync("spring10 needs a cart of at least €50.00.");

        await Page.GetByLabel("Discount code", new() { Exact = true }).FillAsync("NOSUCH");
        await check.ClickAsync();
        await Expect(result).ToHaveTextAsync("NOSUCH is not a code you can use.");
        await Expect(Page.Locator("#lp-error")).ToBeHiddenAsync();
    }

    [Fact]
    public async Task Customer_whose_feedback_earns_nothing_is_told_why_and_the_limit()
    {
        await OpenMyPageAsync(1001);
        var message = Page.GetByLabel("Your feedback (10–2000 characters)");
        var send = Page.GetByRole(AriaRole.Button, new() { Name = "Send feedback" });

        await message.FillAsync("Lovely shop, fast delivery.");
        await send.ClickAsync();
        await Expect(Page.Locator("#lp-status")).ToHaveTextAsync("Thank you! 10 points were added.");
        await message.FillAsync("And the packaging was nice too.");
        await send.ClickAsync();

        await Expect(Page.Locator("#lp-status")).ToHaveTextAsync(
            "Thank you for your feedback! It earned no points this time: only your first feedback each day earns points.");
    }

    [Fact]
    public async Task Merchant_changes_the_conversion_step_in_the_admin_and_My_Page_follows()
    {
        await Page.GotoAsync("/admin?shop=" + Shop + "#settings");
        await Expect(Page.GetByLabel("Conversion step (points)")).ToHaveValueAsync("100");
        await Page.GetByLabel("Conversion step (points)").FillAsync("250");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToHaveTextAsync("Settings saved.");

        await OpenMyPageAsync(1003);
        await Expect(Page.Locator("#lp-rules")).ToContainTextAsync("in steps of 250");
        var choices = await Page.Locator(".lp-choice").EvaluateAllAsync<long[]>("bs => bs.map(b => Number(b.dataset.points))");
        Assert.NotEmpty(choices);
        Assert.Equal(500, choices[0]);
        Assert.All(choices, p => Assert.Equal(0, p % 250));

        // 750 was not a multiple of the old step; now it converts.
        await Page.GetByLabel("Or enter an amount").FillAsync("750");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Convert", Exact = true }).ClickAsync();
        await Expect(Page.GetByTestId("new-code")).ToHaveTextAsync(new Regex("^1003-"));
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("11,250");
        await ScreenshotAsync("my-page.png");

        // And the merchant's dashboard shows it.
        await Page.GotoAsync("/admin?shop=" + Shop + "#dashboard");
        await Expect(Page.Locator("[data-metric='pointsRedeemed'] .value")).ToHaveTextAsync("750");
        await Expect(Page.Locator("[data-metric='couponsIssued'] .value")).ToHaveTextAsync("1");
        await ScreenshotAsync("dashboard.png");
    }
}

/// <summary>The POS as balance authority, with a deduction that times out: "Processing…" until the reconciler settles it.</summary>
public sealed class PosTimeoutBrowserTests : SandboxBrowser
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Pos:AttemptTimeoutSeconds"] = "0.5",
        ["Pos:TotalTimeoutSeconds"] = "4",
        ["Pos:RetryBaseDelayMs"] = "10",
        // An unknown outcome is looked up by reference 10 s after the deduction was sent (the four attempts take ~2.5 s).
        ["Conversion:SettleAfterSeconds"] = "10",
        ["Jobs:Schedules:conversion-reconciler"] = "", // run by the test below, where the schedule would
    };

    [Fact]
    public async Task Injected_POS_timeout_shows_Processing_and_then_the_settled_result()
    {
        // The merchant switches the demo shop to the POS (its connection is preset by the sandbox).
        await Page.GotoAsync("/admin?shop=" + Shop + "#settings");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Test POS connection" }).ClickAsync();
        await Expect(Page.Locator("#pos-test-result")).ToContainTextAsync("accepted the API key");
        await Page.GetByLabel("Balance kept by").SelectOptionAsync("pos");
        await Page.GetByRole(AriaRole.Button, new() { Name = "Save" }).ClickAsync();
        await Expect(Page.Locator("#toast")).ToHaveTextAsync("Settings saved.");

        // Every attempt of the next deduction outlives the client's timeout (set on the sandbox home page).
        await Page.GotoAsync("/");
        await Page.GetByLabel("\"Slow\" fault delay (ms, past the client's timeout)").FillAsync("3000");
        await Page.Locator("#pos-next").SelectOptionAsync("Slow");
        await Page.Locator("#pos-count").FillAsync("4");
        await Page.Locator("#pos-only").SelectOptionAsync("deductions");
        await Page.Locator("form[data-target=pos] button").ClickAsync();
        await Expect(Page.Locator("form[data-target=pos] + .out")).ToContainTextAsync("next 4 call(s): Slow");

        await OpenMyPageAsync(1001);
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("1,500");
        await Page.GetByRole(AriaRole.Button, new() { NameRegex = new Regex("^500 points") }).ClickAsync();
        await Page.GetByRole(AriaRole.Button, new() { Name = "Convert", Exact = true }).ClickAsync();

        var convert = Page.Locator("#lp-convert");
        await Expect(convert).ToHaveTextAsync("Processing…");
        await Expect(Page.Locator("#lp-status")).ToContainTextAsync("being confirmed", new() { Timeout = 20_000 }); // answered 202: settling
        await Expect(convert).ToBeDisabledAsync();
        var id = await App.ScalarAsync<string>("SELECT id FROM conversions WHERE customer_id = 1001");
        Assert.Equal("settling", await App.ScalarAsync<string>("SELECT state FROM conversions WHERE id = @id", new { id }));

        // The reconciler (run here where its schedule would) settles by reference once SettleAfterSeconds passed:
        // the POS never applied the deduction, so the coupon is withdrawn.
        var reconciler = App.Services.GetRequiredService<ConversionReconciler>();
        await LoyaltyApp.WaitUntilAsync(async () =>
        {
            await reconciler.RunAsync(default);
            return await App.ScalarAsync<string>("SELECT state FROM conversions WHERE id = @id", new { id }) != "settling";
        }, "the reconciler to settle the conversion", timeoutMs: 40_000);
        await Expect(Page.Locator("#lp-error")).ToContainTextAsync("Nothing was deducted");
        await Expect(convert).ToHaveTextAsync("Convert");
        await Expect(convert).ToBeEnabledAsync();
        await Expect(Page.GetByTestId("balance")).ToHaveTextAsync("1,500");

        Assert.Equal("failed", await App.ScalarAsync<string>("SELECT state FROM conversions WHERE id = @id", new { id }));
        Assert.Equal(1500, Simulators.Pos!.Balance("1001"));
        Assert.DoesNotContain(Simulators.Pos.Transactions(), t => t.Reference == id);
        Assert.Empty(Simulators.Shopify!.Discounts());
    }
}
