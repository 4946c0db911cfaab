using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Loyalty.Tests.Infrastructure;

namespace Loyalty.Tests.Features.Admin;

public sealed class JobsDashboardTests
{
    [Fact]
    public async Task The_jobs_dashboard_refuses_everyone_when_no_credentials_are_configured()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);

        var response = await app.Http.GetAsync("/hangfire");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_jobs_dashboard_opens_only_with_the_configured_credentials()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Jobs:DashboardUser"] = "ops",
            ["Jobs:DashboardPassword"] = "a-long-operator-password",
        });

        var wrong = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:guess")));
        var right = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        right.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:a-long-operator-password")));

        var refused = await app.Http.SendAsync(wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("Basic", refused.Headers.WwwAuthenticate.ToString());
        Assert.Equal(HttpStatusCode.OK, (await app.Http.SendAsync(right)).StatusCode);
    }
}
