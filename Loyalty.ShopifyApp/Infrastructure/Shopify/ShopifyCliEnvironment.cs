namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// Shopify CLI (<c>shopify app dev</c>) and most hosts hand the app its identity as SHOPIFY_API_KEY,
/// SHOPIFY_API_SECRET, SCOPES and SHOPIFY_APP_URL (or HOST). Those are mapped onto the <c>Shopify:*</c>
/// keys unless the <c>Shopify__*</c> form already set them.
/// </summary>
public static class ShopifyCliEnvironment
{
    private static readonly (string Variable, string Key)[] Map =
    [
        ("SHOPIFY_API_KEY", "Shopify:ApiKey"),
        ("SHOPIFY_API_SECRET", "Shopify:ApiSecret"),
        ("SCOPES", "Shopify:Scopes"),
        ("SHOPIFY_APP_URL", "Shopify:AppUrl"),
        ("HOST", "Shopify:AppUrl"),
    ];

    public static IConfigurationBuilder AddShopifyCliVariables(this IConfigurationManager configuration)
    {
        var values = new Dictionary<string, string?>();
        foreach (var (variable, key) in Map)
        {
            var value = configuration[variable];
            if (string.IsNullOrWhiteSpace(value) || !string.IsNullOrWhiteSpace(configuration[key]) || values.ContainsKey(key)) continue;
            // HOST is sometimes a bare host name; the app URL must be absolute.
            values[key] = variable == "HOST" && !value.Contains("://", StringComparison.Ordinal) ? "https://" + value : value;
        }
        return values.Count == 0 ? configuration : configuration.AddInMemoryCollection(values);
    }
}
