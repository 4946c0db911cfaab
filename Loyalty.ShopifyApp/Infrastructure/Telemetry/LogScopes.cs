using Microsoft.Extensions.Logging.Console;

namespace Loyalty.ShopifyApp.Infrastructure.Telemetry;

/// <summary>
/// Log scopes that carry the ids of a unit of work (shop, customer, conversion, order) as fields of every line
/// written inside it, so a shop's or a conversion's lines can be found without parsing messages.
/// </summary>
public static class LogScopes
{
    public const string ShopDomain = "ShopDomain";
    public const string CustomerId = "CustomerId";
    public const string ConversionId = "ConversionId";
    public const string OrderId = "OrderId";
    public const string WebhookId = "WebhookId";

    /// <summary>JSON console lines carry their scopes' fields (Production's format; the plain console is unchanged).</summary>
    public static IHostApplicationBuilder AddLoyaltyLogging(this IHostApplicationBuilder builder)
    {
        builder.Services.Configure<JsonConsoleFormatterOptions>(o => o.IncludeScopes = true);
        return builder;
    }

    public static IDisposable? BeginShopScope(this ILogger logger, string shop, long? customerId = null)
    {
        var fields = new Dictionary<string, object> { [ShopDomain] = shop };
        if (customerId is { } customer) fields[CustomerId] = customer;
        return logger.BeginScope(fields);
    }

    /// <summary>The ids of one conversion, for every line written while it is driven (by a request or the reconciler).</summary>
    public static IDisposable? BeginConversionScope(this ILogger logger, string shop, long customerId, string conversionId) =>
        logger.BeginScope(new Dictionary<string, object> { [ShopDomain] = shop, [CustomerId] = customerId, [ConversionId] = conversionId });
}
