using static Microsoft.Playwright.Assertions;

namespace Loyalty.Tests.Browser;

/// <summary>
/// The theme app extension's script in Chromium, on a page laid out as the points block renders for a logged-in customer, its
/// <c>/apps/loyalty</c> requests answered by the sandbox's app proxy: it fills the balance, and what expires next with its date.
/// </summary>
public sealed class ThemeBlockBrowserTests : SandboxBrowser
{
    /// <summary>The slots loyalty-points.liquid renders for a logged-in customer (outside the theme editor).</summary>
    private const string Block = """
        <p data-loyalty-balance hidden>Points balance <span data-loyalty-balance-value></span></p>
        <p data-loyalty-pending hidden>Pending <span data-loyalty-pending-value></span></p>
        <p data-loyalty-expiring hidden>Expiring next <span data-loyalty-expiring-value></span> <span data-loyalty-expiring-date></span></p>
        """;

    [Fact]
    public async Task The_points_block_shows_the_balance_and_what_expires_next_with_its_date()
    {
        await AdminApiAsync(HttpMethod.Put, "settings", new { expiryMode = "earned", expiryMonths = 12 });
        await Page.GotoAsync("/sandbox/storefront/login?customer=1002"); // the demo's 300 points, earned today
        // The storefront's /apps/loyalty is the sandbox's app proxy emulator, under /sandbox/storefront here.
        await Page.RouteAsync("**/apps/loyalty/api/me",
            route => route.ContinueAsync(new() { Url = BaseUrl + "/sandbox/storefront/apps/loyalty/api/me" }));
        var script = await File.ReadAllTextAsync(Path.Combine(Loyalty.Tests.Extensions.ThemeExtension.Root, "assets", "loyalty-balance.js"));

        await Page.SetContentAsync($"<html lang=\"en\"><body>{Block}<script>{script}</script></body></html>");

        await Expect(Page.Locator("[data-loyalty-balance-value]")).ToHaveTextAsync("300");
        await Expect(Page.Locator("[data-loyalty-pending]")).ToBeHiddenAsync();
        await Expect(Page.Locator("[data-loyalty-expiring-value]")).ToHaveTextAsync("300");
        var day = DateTimeOffset.UtcNow.AddMonths(12).ToString("MMM d, yyyy", System.Globalization.CultureInfo.InvariantCulture);
        await Expect(Page.Locator("[data-loyalty-expiring-date]")).ToHaveTextAsync(day);
        await Expect(Page.Locator("[data-loyalty-expiring]")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Without_expiry_the_block_shows_no_expiring_points()
    {
        await Page.GotoAsync("/sandbox/storefront/login?customer=1002");
        await Page.RouteAsync("**/apps/loyalty/api/me",
            route => route.ContinueAsync(new() { Url = BaseUrl + "/sandbox/storefront/apps/loyalty/api/me" }));
        var script = await File.ReadAllTextAsync(Path.Combine(Loyalty.Tests.Extensions.ThemeExtension.Root, "assets", "loyalty-balance.js"));

        await Page.SetContentAsync($"<html lang=\"en\"><body>{Block}<script>{script}</script></body></html>");

        await Expect(Page.Locator("[data-loyalty-balance-value]")).ToHaveTextAsync("300");
        await Expect(Page.Locator("[data-loyalty-expiring]")).ToBeHiddenAsync();
    }
}
