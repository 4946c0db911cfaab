using Loyalty.ShopifyApp.Sandbox;

namespace Loyalty.Tests.Features.Storefront.MyPage;

/// <summary>My Page as the app proxy serves it: Liquid for the shop's theme.</summary>
public sealed class MyPageTests(AppFixture app) : AppTests<AppFixture>(app)
{
    [Fact]
    public async Task My_Page_is_Liquid_for_the_theme_with_its_code_in_raw_blocks_and_no_customer_data()
    {
        var response = await App.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy", Shop, 4242));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/liquid", response.Content.Headers.ContentType!.MediaType);
        var liquid = await response.Content.ReadAsStringAsync();
        Assert.Contains("data-logged-in=\"true\"", liquid);
        Assert.DoesNotContain("4242", liquid);
        var html = SandboxPages.RenderLiquid(liquid); // throws on any Liquid but raw blocks
        Assert.Contains("id=\"lp-convert\"", html);
        Assert.DoesNotContain("{%", html);

        var loggedOut = await (await App.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy", Shop, null))).Content.ReadAsStringAsync();
        Assert.Contains("data-logged-in=\"false\"", loggedOut);
        Assert.Equal(HttpStatusCode.Unauthorized, (await App.Http.GetAsync("/proxy?shop=" + Shop)).StatusCode);
    }
}
