namespace Loyalty.Tests.Sandbox;

/// <summary>An app that is not in sandbox mode mounts none of the sandbox's pages.</summary>
public sealed class OutsideTheSandboxTests(AppFixture app) : AppTests<AppFixture>(app)
{
    [Theory]
    [InlineData("GET", "/sandbox/state")]
    [InlineData("GET", "/sandbox/session-token")]
    [InlineData("POST", "/sandbox/orders")]
    [InlineData("POST", "/sandbox/faults")]
    [InlineData("POST", "/sandbox/clock")]
    [InlineData("GET", "/sandbox/flow")]
    [InlineData("POST", "/sandbox/flow")]
    [InlineData("GET", "/sandbox/storefront/login?customer=1")]
    [InlineData("GET", "/sandbox/storefront/apps/loyalty/api/me")]
    public async Task Outside_the_sandbox_none_of_the_sandbox_is_mounted(string method, string path)
    {
        var response = await App.Http.SendAsync(new HttpRequestMessage(new HttpMethod(method), path)
        {
            Content = method == "POST" ? JsonContent.Create(new { customerId = 1, amount = 10 }) : null,
        });
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
