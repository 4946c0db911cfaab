using Loyalty.ShopifyApp.Sandbox;

namespace Loyalty.Tests.Features.Storefront;

/// <summary>
/// My Page in the storefront's language. The proxy's query carries no locale, so the page goes out as Liquid holding
/// every language and Shopify picks one by <c>request.locale</c>; here the sandbox's Liquid emulator plays Shopify.
/// </summary>
public sealed class MyPageLanguageTests(AppFixture app) : IClassFixture<AppFixture>, IAsyncLifetime
{
    private readonly LoyaltyApp _app = app.App;
    private string _shop = null!;

    public async Task InitializeAsync() => _shop = await app.NewShopAsync();

    public Task DisposeAsync() => Task.CompletedTask;

    [Fact]
    public async Task A_Japanese_storefront_gets_My_Page_in_Japanese()
    {
        var liquid = await _app.Http.GetStringAsync(LoyaltyApp.ProxyPath("/proxy", _shop, 4242));
        Assert.Contains("request.locale.iso_code", liquid);

        var html = SandboxPages.RenderLiquid(liquid, "ja");

        Assert.Contains("<div id=\"loyalty-my-page\" class=\"lp\" lang=\"ja\"", html);
        Assert.Contains("<h1 class=\"lp-title\">マイポイント</h1>", html);
        Assert.Contains(">ポイント残高</h2>", html);
        Assert.Contains(">有効期限</th>", html);
        Assert.Contains("ポイントの確認・利用には<a href=\"/ja/account/login?return_url=%2Fja%2Fapps%2Floyalty\">ログイン</a>してください。", html);
        Assert.Contains("\"convert.button\":\"交換する\"", html); // the script's texts, readable and in the same language
        Assert.DoesNotContain(">Balance</h2>", html);
        Assert.DoesNotContain("lang=\"en\"", html);
    }

    [Theory]
    [InlineData("en")]
    [InlineData("en-US")]
    [InlineData("fr")] // a language My Page has no texts for
    [InlineData("pt-BR")]
    public async Task Any_other_storefront_language_gets_My_Page_in_English(string storefrontLocale)
    {
        var liquid = await _app.Http.GetStringAsync(LoyaltyApp.ProxyPath("/proxy", _shop, null));

        var html = SandboxPages.RenderLiquid(liquid, storefrontLocale);

        Assert.Contains("<div id=\"loyalty-my-page\" class=\"lp\" lang=\"en\" data-logged-in=\"false\"", html);
        Assert.Contains("<h1 class=\"lp-title\">My points</h1>", html);
        Assert.Contains(">Balance</h2>", html);
        Assert.Matches("Please <a href=\"[^\"]*/account/login\\?return_url=[^\"]*%2Fapps%2Floyalty\">log in</a> to see and use your points.", html);
        Assert.DoesNotContain("ポイント", html);
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(html, "id=\"loyalty-my-page\""));
    }

    [Theory]
    [InlineData("en", "/account/login?return_url=%2Fapps%2Floyalty")]
    [InlineData("ja", "/ja/account/login?return_url=%2Fja%2Fapps%2Floyalty")]
    [InlineData("fr", "/fr/account/login?return_url=%2Ffr%2Fapps%2Floyalty")] // English texts, but the French storefront's login
    public async Task The_login_link_is_the_shops_login_in_the_storefronts_language_and_comes_back_to_My_Page_in_it(string storefrontLocale,
        string href)
    {
        var liquid = await _app.Http.GetStringAsync(LoyaltyApp.ProxyPath("/proxy", _shop, null));
        // Shopify's route, which it writes in the storefront's language; a hard-coded path is always the primary language's.
        Assert.Contains("{{ routes.account_login_url }}", liquid);
        Assert.DoesNotContain("/account/login", liquid);

        var html = SandboxPages.RenderLiquid(liquid, storefrontLocale);

        Assert.Contains($"<a href=\"{href}\">", html);
    }
}
