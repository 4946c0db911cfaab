using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.WebUtilities;

namespace Loyalty.Tests.Infrastructure.Shopify;

/// <summary>The examples Shopify publishes (secret "hush"), and the ways a signature can be wrong.</summary>
public sealed class ShopifySignatureVectorTests
{
    private static readonly string[] Hush = ["hush"];

    [Fact]
    public void OAuth_query_hmac_matches_Shopifys_published_example()
    {
        var query = QueryHelpers.ParseQuery(
            "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf" +
            "&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173");
        Assert.True(ShopifySignatures.IsValidAdminQuery(query, Hush));
    }

    [Fact]
    public void OAuth_query_hmac_fails_when_any_parameter_is_changed_or_the_secret_differs()
    {
        var tampered = QueryHelpers.ParseQuery(
            "code=0907a61c0c8d55e99db179b68161bc01&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf" +
            "&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173");
        Assert.False(ShopifySignatures.IsValidAdminQuery(tampered, Hush));
        var genuine = QueryHelpers.ParseQuery(
            "code=0907a61c0c8d55e99db179b68161bc00&hmac=700e2dadb827fcc8609e9d5ce208b2e9cdaab9df07390d2cbca10d7c328fc4bf" +
            "&shop=some-shop.myshopify.com&state=0.6784241404160823&timestamp=1337178173");
        Assert.False(ShopifySignatures.IsValidAdminQuery(genuine, ["not-hush"]));
        Assert.True(ShopifySignatures.IsValidAdminQuery(genuine, ["new-secret", "hush"])); // previous secret during rotation
        Assert.False(ShopifySignatures.IsValidAdminQuery(QueryHelpers.ParseQuery("shop=some-shop.myshopify.com"), Hush));
    }

    [Fact]
    public void App_proxy_signature_matches_Shopifys_published_example_with_a_repeated_parameter()
    {
        var query = QueryHelpers.ParseQuery(
            "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1&path_prefix=%2Fapps%2Fawesome_reviews" +
            "&timestamp=1317327555&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb");
        Assert.True(ShopifySignatures.IsValidAppProxyQuery(query, Hush));
    }

    [Fact]
    public void App_proxy_signature_matches_Shopifys_example_for_a_visitor_who_is_not_logged_in()
    {
        var query = QueryHelpers.ParseQuery(
            "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=&path_prefix=%2Fapps%2Fawesome_reviews" +
            "&timestamp=1317327555&signature=e072b6d7e6622d85912a5214b860d3100dc1e73d9bc29f43796ac8c9ff8093cb");
        Assert.True(ShopifySignatures.IsValidAppProxyQuery(query, Hush));
    }

    [Fact]
    public void App_proxy_signature_fails_for_a_changed_customer_or_a_second_signature()
    {
        var changed = QueryHelpers.ParseQuery(
            "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=2&path_prefix=%2Fapps%2Fawesome_reviews" +
            "&timestamp=1317327555&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb");
        Assert.False(ShopifySignatures.IsValidAppProxyQuery(changed, Hush));
        var doubled = QueryHelpers.ParseQuery(
            "extra=1&extra=2&shop=shop-name.myshopify.com&logged_in_customer_id=1&path_prefix=%2Fapps%2Fawesome_reviews" +
            "&timestamp=1317327555&signature=4c68c8624d737112c91818c11017d24d334b524cb5c2b8ba08daa056f7395ddb&signature=00");
        Assert.False(ShopifySignatures.IsValidAppProxyQuery(doubled, Hush));
    }

    [Fact]
    public void Webhook_hmac_matches_the_reference_vector_and_nothing_else()
    {
        var body = Encoding.UTF8.GetBytes("""{"id":820982911946154508,"email":"jon@example.com"}""");
        Assert.True(ShopifySignatures.IsValidWebhook(body, "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8=", Hush));
        Assert.False(ShopifySignatures.IsValidWebhook(body, "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo9=", Hush));
        Assert.False(ShopifySignatures.IsValidWebhook(Encoding.UTF8.GetBytes("""{"id":820982911946154508, "email":"jon@example.com"}"""),
            "D0UMXmhjwBRi4y66TmhJrDlhQABD7zI2fm3p6/QLMo8=", Hush)); // one added space
        Assert.False(ShopifySignatures.IsValidWebhook(body, null, Hush));
        Assert.False(ShopifySignatures.IsValidWebhook(body, "not base64!", Hush));
        Assert.False(ShopifySignatures.IsValidWebhook(body, "0f450c5e6863c01462e32eba4e6849ac39614000", Hush)); // hex, not base64
    }

    [Theory]
    [InlineData("cool-shop.myshopify.com", true)]
    [InlineData("Cool-Shop.MYSHOPIFY.com", false)]
    [InlineData("Cool-Shop.myshopify.com", true)]
    [InlineData("evil.com?x=.myshopify.com", false)]
    [InlineData("cool-shop.myshopify.com.evil.com", false)]
    [InlineData("-cool.myshopify.com", false)]
    [InlineData("admin.shopify.com", false)]
    [InlineData("cool shop.myshopify.com", false)]
    [InlineData("", false)]
    public void Shop_domains_are_checked_with_the_anchored_pattern(string value, bool valid)
    {
        Assert.Equal(valid, ShopDomain.TryNormalize(value, out var shop));
        if (valid) Assert.Equal(value.ToLowerInvariant(), shop);
    }
}
