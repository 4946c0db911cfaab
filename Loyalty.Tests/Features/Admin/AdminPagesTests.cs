namespace Loyalty.Tests.Features.Admin;

/// <summary>The embedded admin page: App Bridge, and framed only by the shop's own admin.</summary>
public sealed class AdminPagesTests(AppFixture app) : AppTests<AppFixture>(app)
{
    [Fact]
    public async Task The_admin_page_loads_App_Bridge_and_may_only_be_framed_by_the_shops_admin()
    {
        var response = await App.Http.GetAsync($"/admin?shop={Shop}&host=abc&embedded=1");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var csp = response.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Equal($"frame-ancestors https://{Shop} https://admin.shopify.com", csp);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("https://cdn.shopify.com/shopifycloud/app-bridge.js", html);
        Assert.Contains($"<meta name=\"shopify-api-key\" content=\"{LoyaltyApp.ApiKey}\">", html);
        Assert.Contains("data-sandbox=\"false\"", html);

        var noShop = await App.Http.GetAsync("/admin");
        Assert.Equal(HttpStatusCode.OK, noShop.StatusCode);
        Assert.Equal("frame-ancestors https://admin.shopify.com", noShop.Headers.GetValues("Content-Security-Policy").Single());

        var root = await App.Http.GetAsync($"/?shop={Shop}&host=abc");
        Assert.Equal(HttpStatusCode.Redirect, root.StatusCode);
        Assert.Equal($"/admin?shop={Shop}&host=abc", root.Headers.Location!.ToString());
    }

    /// <summary>The shop of /admin is unverified (the page holds no data): it may only reach the CSP header once it is a shop domain.</summary>
    [Theory]
    [InlineData("evil.example.com")]
    [InlineData("{shop}%0A")]
    [InlineData("{shop}%0D%0AX-Injected:%201")]
    [InlineData("{shop}%20https://evil.example")]
    [InlineData("{shop};%20script-src%20*")]
    [InlineData("{shop}&shop=other.myshopify.com")]
    public async Task An_admin_page_for_a_shop_that_is_not_one_is_refused_and_names_no_one_in_its_headers(string shop)
    {
        var response = await App.Http.GetAsync("/admin?shop=" + shop.Replace("{shop}", Shop, StringComparison.Ordinal));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal("invalid_shop", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.False(response.Headers.Contains("X-Injected"));
        Assert.DoesNotContain(response.Headers.SelectMany(h => h.Value), v => v.Contains("evil", StringComparison.Ordinal)
            || v.Contains(Shop, StringComparison.Ordinal) || v.Contains("other.", StringComparison.Ordinal));
    }
}
