namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// Shopify CLI (<c>shopify app dev</c>) and most hosts hand the app its identity as SHOPIFY_API_KEY,
/// SHOPIFY_API_SECRET, SCOPES and SHOPIFY_APP_URL (or HOST). They fill the <c>Shopify:*</c> settings the
/// <c>Shopify__*</c> form left empty. Applied to the bound options, so configuration added late is seen too.
/// The port to listen on comes with them (see <see cref="ShopifyExtensions.UseCliPort"/>).
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

public static partial class ShopifyExtensions
{
    /// <summary>
    /// Listens where the host says: <c>BACKEND_PORT</c> (Shopify CLI's <c>shopify app dev</c>, whose tunnel reaches
    /// localhost) or <c>PORT</c> (the CLI too, and hosts such as Heroku or Cloud Run, which reach every interface).
    /// Neither set: the usual ASP.NET Core settings (<c>--urls</c>, <c>ASPNETCORE_URLS</c>, the launch profile's 5080).
    /// </summary>
    public static WebApplicationBuilder UseCliPort(this WebApplicationBuilder builder)
    {
        var cli = builder.Configuration["BACKEND_PORT"];
        var value = string.IsNullOrWhiteSpace(cli) ? builder.Configuration["PORT"] : cli;
        if (string.IsNullOrWhiteSpace(value)) return builder;
        if (!int.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var port)
            || port is < 1 or > 65535)
        {
            throw new InvalidOperationException(
                $"{(string.IsNullOrWhiteSpace(cli) ? "PORT" : "BACKEND_PORT")} is '{value}', not a port number (1-65535).");
        }
        builder.WebHost.UseUrls(string.IsNullOrWhiteSpace(cli) ? $"http://+:{port}" : $"http://localhost:{port}");
        return builder;
    }
}
