using Microsoft.Extensions.Options;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// Shopify CLI (<c>shopify app dev</c>) and most hosts hand the app its identity as SHOPIFY_API_KEY,
/// SHOPIFY_API_SECRET, SCOPES and SHOPIFY_APP_URL (or HOST). They fill the <c>Shopify:*</c> settings the
/// <c>Shopify__*</c> form left empty. Applied to the bound options, so configuration added late is seen too.
/// </summary>
public sealed class ShopifyCliEnvironment(IConfiguration configuration) : IPostConfigureOptions<ShopifyOptions>
{
    public void PostConfigure(string? name, ShopifyOptions o)
    {
        if (string.IsNullOrWhiteSpace(o.ApiKey)) o.ApiKey = configuration["SHOPIFY_API_KEY"] ?? "";
        if (string.IsNullOrWhiteSpace(o.ApiSecret)) o.ApiSecret = configuration["SHOPIFY_API_SECRET"] ?? "";
        if (!string.IsNullOrWhiteSpace(configuration["SCOPES"]) && string.IsNullOrWhiteSpace(configuration["Shopify:Scopes"]))
        {
            o.Scopes = configuration["SCOPES"]!;
        }
        if (string.IsNullOrWhiteSpace(o.AppUrl))
        {
            var url = configuration["SHOPIFY_APP_URL"];
            if (string.IsNullOrWhiteSpace(url) && configuration["HOST"] is { Length: > 0 } host)
            {
                // HOST is sometimes a bare host name; the app URL must be absolute.
                url = host.Contains("://", StringComparison.Ordinal) ? host : "https://" + host;
            }
            o.AppUrl = url ?? "";
        }
    }
}
