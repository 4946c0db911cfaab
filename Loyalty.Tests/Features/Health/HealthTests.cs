namespace Loyalty.Tests.Features.Health;

public sealed class HealthTests
{
    [Fact]
    public async Task Health_and_readiness_answer_200_when_the_database_is_reachable()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);

        Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health")).StatusCode);
        var ready = await app.Http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("ready", await ready.Content.ReadAsStringAsync());
        using var probe = new HttpRequestMessage(HttpMethod.Head, "/health/ready"); // load balancers probe with HEAD too
        Assert.Equal(HttpStatusCode.OK, (await app.Http.SendAsync(probe)).StatusCode);
    }
}
