using Loyalty.Pos;
using Loyalty.ShopifyApp.Infrastructure.Http;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Infrastructure;

/// <summary>In .NET, <c>$</c> also matches before a final newline: every validation pattern must end where the text ends.</summary>
public sealed class ValidationPatternTests
{
    [Theory]
    [InlineData("cool-shop.myshopify.com\n")]
    [InlineData("cool-shop.myshopify.com\r\n")]
    [InlineData("cool-shop.myshopify.com ")]
    [InlineData("\ncool-shop.myshopify.com")]
    public void A_shop_domain_with_anything_around_it_is_not_one(string value)
    {
        Assert.False(ShopDomain.TryNormalize(value, out _));
        Assert.True(ShopDomain.TryNormalize(value.Trim(), out _));
    }

    [Fact]
    public void Keys_references_and_versions_end_where_their_text_ends()
    {
        Assert.False(IdempotencyKey.IsValid("attempt-1\n", 100));
        Assert.True(IdempotencyKey.IsValid("attempt-1", 100));
        Assert.False(PosReference.IsValid("loyalty:conv_1\n"));
        Assert.True(PosReference.IsValid("loyalty:conv_1"));

        var options = new ShopifyOptions { ApiKey = "k", ApiSecret = LoyaltyApp.Secret, AppUrl = "https://loyalty.test", ApiVersion = "2026-10\n" };
        Assert.Contains(new ShopifyOptionsValidator().Validate(null, options).Failures ?? [],
            f => f.Contains("ApiVersion", StringComparison.Ordinal));
        options.ApiVersion = "2026-10";
        Assert.True(new ShopifyOptionsValidator().Validate(null, options).Succeeded);
    }
}
