using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.Extensions.DependencyInjection;
using WireMock.Matchers;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;

namespace Loyalty.Tests.Infrastructure.Shopify;

/// <summary>Shopify's answers are read up to Shopify:MaxResponseBytes; a longer one fails the call like a network error.</summary>
public sealed class ShopifyAnswerSizeTests : IAsyncLifetime
{
    private readonly ShopifyFake _shopify = new();
    private LoyaltyApp _app = null!;
    private string _shop = null!;

    public async Task InitializeAsync()
    {
        _app = await LoyaltyApp.StartAsync(_shopify, new Dictionary<string, string?> { ["Shopify:MaxResponseBytes"] = "1048576" });
        _shop = LoyaltyApp.NewShop();
        await _app.InstallAsync(_shopify, _shop);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        _shopify.Dispose();
    }

    [Fact]
    public async Task A_GraphQL_answer_past_the_limit_is_shopify_unavailable_not_parsed()
    {
        var padding = new string('x', 4 * 1024 * 1024);
        _shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(_shop)).UsingPost()
                .WithBody(new WildcardMatcher("*HugeProbe*")))
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody("{\"data\":{\"shop\":{\"name\":\"" + padding + "\"}}}"));
        var graphQL = _app.Services.GetRequiredService<ShopifyGraphQLClient>();

        await Assert.ThrowsAsync<ShopifyUnavailableException>(() => graphQL.MutateAsync(_shop, "mutation HugeProbe { x }", null, default));
    }
}
