using Loyalty.ShopifyApp.Infrastructure.Shopify;
using WireMock.Matchers;

namespace Loyalty.Tests.Infrastructure.Shopify;

/// <summary>Shopify's answers are read up to Shopify:MaxResponseBytes; a longer one fails the call like a network error.</summary>
public sealed class ShopifyAnswerSizeTests(ShopifyAnswerSizeTests.SmallAnswersApp app) : AppTests<ShopifyAnswerSizeTests.SmallAnswersApp>(app)
{
    public sealed class SmallAnswersApp() : AppFixture(new() { ["Shopify:MaxResponseBytes"] = "1048576" });

    [Fact]
    public async Task A_GraphQL_answer_past_the_limit_is_shopify_unavailable_not_parsed()
    {
        var padding = new string('x', 4 * 1024 * 1024);
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
                .WithBody(new WildcardMatcher("*HugeProbe*")))
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithHeader("Content-Type", "application/json")
                .WithBody("{\"data\":{\"shop\":{\"name\":\"" + padding + "\"}}}"));
        var graphQL = App.Services.GetRequiredService<ShopifyGraphQLClient>();

        await Assert.ThrowsAsync<ShopifyUnavailableException>(() => graphQL.MutateAsync(Shop, "mutation HugeProbe { x }", null, default));
    }
}
