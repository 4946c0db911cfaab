using Loyalty.ShopifyApp.Sandbox;
using Microsoft.Playwright;

namespace Loyalty.Tests.Browser;

/// <summary>
/// The app as the README's run command starts it (Development, no Shopify credentials: sandbox mode with its
/// simulators on real local sockets), and headless Chromium (Debian's <c>/usr/bin/chromium</c>, which
/// <c>.ci/run</c> installs) driven by Playwright. Set <c>LOYALTY_CHROMIUM</c> to use another Chromium binary and
/// <c>LOYALTY_SCREENSHOT_DIR</c> to keep screenshots (the ones in docs/ come from here).
/// </summary>
public abstract class SandboxBrowser : IAsyncLifetime
{
    protected const string Shop = "demo-shop.myshopify.com";

    private readonly ShopifyFake _unused = new();
    private IPlaywright _playwright = null!;
    private IBrowser _browser = null!;
    protected LoyaltyApp App = null!;
    protected IBrowserContext Context = null!;
    protected IPage Page = null!;

    protected string BaseUrl => App.Http.BaseAddress!.ToString().TrimEnd('/');

    protected SandboxSimulators Simulators => App.Services.GetRequiredService<SandboxSimulators>();

    /// <summary>Extra configuration for a test class (e.g. tighter POS timeouts).</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    public async Task InitializeAsync()
    {
        var chromium = Environment.GetEnvironmentVariable("LOYALTY_CHROMIUM") is { Length: > 0 } custom ? custom : "/usr/bin/chromium";
        if (!File.Exists(chromium))
        {
            throw new InvalidOperationException(
                $"Browser tests need Chromium at {chromium}: run `apt-get install -y chromium` (as .ci/run does) or set LOYALTY_CHROMIUM.");
        }
        App = await LoyaltyApp.StartSandboxAsync(_unused, Settings);

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
        Context = await _browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = BaseUrl, Locale = "en-US", TimezoneId = "UTC" });
        Context.SetDefaultTimeout(15_000);
        Page = await Context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        await Context.DisposeAsync();
        await _browser.DisposeAsync();
        _playwright.Dispose();
        await App.DisposeAsync();
        _unused.Dispose();
    }

    /// <summary>Logs the customer in on the emulated storefront and opens My Page (in the storefront's language, e.g. <c>ja</c>).</summary>
    protected async Task OpenMyPageAsync(long customerId, string? locale = null)
    {
        await Page.GotoAsync($"/sandbox/storefront/login?customer={customerId}" + (locale is null ? "" : "&locale=" + locale));
        await Assertions.Expect(Page.GetByTestId("balance")).Not.ToHaveTextAsync("…");
    }

    /// <summary>The admin API as the embedded admin calls it in the sandbox (its session token), each call with its own Idempotency-Key.</summary>
    protected async Task<JsonElement> AdminApiAsync(HttpMethod method, string path, object? body = null)
    {
        var session = await App.Http.GetFromJsonAsync<JsonElement>("/sandbox/session-token");
        using var request = LoyaltyApp.AdminWithToken(method, "/api/admin/" + path, session.GetProperty("token").GetString(),
            body is null ? null : JsonContent.Create(body));
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        using var response = await App.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path} answered {(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    /// <summary>A paid order of the demo shop, signed as the sandbox's Shopify signs it, once the app has processed it.</summary>
    protected async Task DeliverOrderAsync(long orderId, long customerId, decimal total, params string[] discountCodes)
    {
        Simulators.Shopify!.AddPaidOrder(orderId, customerId, total, total);
        var webhookId = Guid.NewGuid().ToString();
        using var response = await App.PostWebhookAsync("orders/paid", Shop,
            ShopifyPayloads.Order(orderId, customerId, total, total, discountCodes: discountCodes),
            webhookId, secret: SandboxMode.ClientSecret);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        await App.WaitForDeliveryAsync(webhookId, "processed");
    }

    /// <summary>Clicks <paramref name="button"/>, which saves a file, and reads the file as the browser saved it.</summary>
    protected async Task<(string Name, string Text)> DownloadAsync(ILocator button)
    {
        var download = await Page.RunAndWaitForDownloadAsync(() => button.ClickAsync());
        return (download.SuggestedFilename, await File.ReadAllTextAsync(await download.PathAsync()));
    }

    protected async Task ScreenshotAsync(string name)
    {
        var dir = Environment.GetEnvironmentVariable("LOYALTY_SCREENSHOT_DIR");
        if (string.IsNullOrEmpty(dir)) return;
        Directory.CreateDirectory(dir);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(dir, name), FullPage = true });
    }
}
