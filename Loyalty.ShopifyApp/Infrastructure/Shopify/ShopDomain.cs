using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>Validates a shop's permanent domain with Shopify's anchored pattern (WEAK_SHOP_VALIDATION).</summary>
public static partial class ShopDomain
{
    // \z, not $: in .NET $ also matches before a final newline, and "shop.myshopify.com\n" would reach headers and URLs.
    [GeneratedRegex(@"^[a-zA-Z0-9][a-zA-Z0-9\-]*\.myshopify\.com\z", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 100)]
    private static partial Regex Pattern();

    public static bool TryNormalize(string? value, [NotNullWhen(true)] out string? shop)
    {
        shop = null;
        if (string.IsNullOrEmpty(value) || value.Length > 255 || !Pattern().IsMatch(value)) return false;
        shop = value.ToLowerInvariant();
        return true;
    }
}
