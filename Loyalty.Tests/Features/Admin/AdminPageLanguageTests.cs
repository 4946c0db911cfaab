namespace Loyalty.Tests.Features.Admin;

/// <summary>The embedded admin in the admin user's language, which Shopify puts in the app URL as <c>locale</c>.</summary>
public sealed class AdminPageLanguageTests(AppFixture app) : IClassFixture<AppFixture>
{
    private readonly LoyaltyApp _app = app.App;
    private readonly string _shop = LoyaltyApp.NewShop(); // the page holds no data: its shop need not be installed

    [Theory]
    [InlineData("ja", "ja")]
    [InlineData("ja-JP", "ja-JP")]
    public async Task A_Japanese_admin_gets_the_page_in_Japanese(string locale, string formatLocale)
    {
        var response = await _app.Http.GetAsync($"/admin?shop={_shop}&host=abc&embedded=1&locale={locale}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("<html lang=\"ja\">", html);
        Assert.Contains($"data-locale=\"{formatLocale}\"", html);
        Assert.Contains("<title>ロイヤルティポイント</title>", html);
        Assert.Contains("<a href=\"#dashboard\">ダッシュボード</a>", html);
        Assert.Contains(">POS への接続をテスト</button>", html);
        Assert.Contains("\"settings.saved\":\"設定を保存しました。\"", html);
        Assert.DoesNotContain(">Dashboard<", html);
    }

    [Theory]
    [InlineData("en", "en")]
    [InlineData("en-US", "en-US")]
    [InlineData("fr", "en")] // no French texts: English words, English numbers
    [InlineData(null, "en")]
    public async Task Any_other_admin_language_gets_the_page_in_English(string? locale, string formatLocale)
    {
        var html = await _app.Http.GetStringAsync($"/admin?shop={_shop}" + (locale is null ? "" : "&locale=" + locale));

        Assert.Contains("<html lang=\"en\">", html);
        Assert.Contains($"data-locale=\"{formatLocale}\"", html);
        Assert.Contains("<a href=\"#dashboard\">Dashboard</a>", html);
        Assert.DoesNotContain("ダッシュボード", html);
    }
}
