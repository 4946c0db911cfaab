using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>A verified storefront request: the shop and the logged-in customer come only from the signed query.</summary>
public sealed record AppProxyRequest(string Shop, long? CustomerId, string? PathPrefix);

/// <summary>Marks endpoints that Shopify reaches through the app proxy.</summary>
public sealed record AppProxySignatureRequired(bool CustomerRequired);

public static class AppProxy
{
    private const string ItemKey = "loyalty.app-proxy";

    /// <summary>
    /// Every endpoint of the group is verified as an app proxy request before anything is bound or run; what the verification
    /// answers is declared for each (and <c>json_required</c> for those that take a body).
    /// </summary>
    public static RouteGroupBuilder RequireAppProxySignature(this RouteGroupBuilder group)
    {
        group.WithMetadata(new AppProxySignatureRequired(CustomerRequired: false))
            .ProblemCodes(StatusCodes.Status401Unauthorized, "invalid_proxy_signature", "stale_proxy_request", "shop_not_installed");
        ((IEndpointConventionBuilder)group).Add(endpoint =>
        {
            var methods = endpoint.Metadata.OfType<IHttpMethodMetadata>().LastOrDefault()?.HttpMethods ?? [];
            if (methods.Any(m => !HttpMethods.IsGet(m) && !HttpMethods.IsHead(m)))
            {
                endpoint.Metadata.Add(new ApiDeclarations.ProblemAnswers(StatusCodes.Status415UnsupportedMediaType, ["json_required"]));
            }
        });
        return group;
    }

    /// <summary>The endpoint needs a logged-in customer (<c>logged_in_customer_id</c> non-empty), else 401.</summary>
    public static TBuilder RequireLoggedInCustomer<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AppProxySignatureRequired(CustomerRequired: true))
            .ProblemCodes(StatusCodes.Status401Unauthorized, "customer_not_logged_in");

    public static AppProxyRequest Proxy(this HttpContext context) =>
        context.Items[ItemKey] as AppProxyRequest ?? throw new InvalidOperationException("Not a verified app proxy request.");

    /// <summary>The logged-in customer of a verified request on an endpoint that requires one.</summary>
    public static long Customer(this HttpContext context) =>
        context.Proxy().CustomerId ?? throw new InvalidOperationException("No logged-in customer on this request.");

    public static IApplicationBuilder UseAppProxyVerification(this IApplicationBuilder app) => app.UseMiddleware<AppProxyVerification>();

    internal static void Set(HttpContext context, AppProxyRequest request) => context.Items[ItemKey] = request;
}

/// <summary>
/// Verifies app proxy requests (signature over the query, at most one value of each parameter Shopify adds,
/// timestamp within the window, shop installed). Runs as middleware after routing and before the endpoint, so a forged
/// request is refused before its body is read. State-changing calls must be JSON, which a cross-site form
/// cannot send without a CORS preflight (CSRF through the customer's storefront session).
/// </summary>
public sealed partial class AppProxyVerification(
    RequestDelegate next,
    IOptions<ShopifyOptions> options,
    NpgsqlDataSource db,
    TimeProvider clock,
    ILogger<AppProxyVerification> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var requirements = context.GetEndpoint()?.Metadata.GetOrderedMetadata<AppProxySignatureRequired>();
        if (requirements is null || requirements.Count == 0)
        {
            await next(context);
            return;
        }

        var failure = await VerifyAsync(context, requirements.Any(r => r.CustomerRequired));
        if (failure is not null)
        {
            await Problems.WriteAsync(context, failure);
            return;
        }
        var proxy = context.Proxy();
        using (logger.BeginShopScope(proxy.Shop, proxy.CustomerId))
        {
            await next(context);
        }
    }

    private async Task<Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult?> VerifyAsync(HttpContext context, bool customerRequired)
    {
        var query = context.Request.Query;
        // Shopify signs repeated keys with their values joined by commas, so a storefront URL that carries its own
        // logged_in_customer_id (or shop, ...) still verifies: the identity would be ambiguous, so it is refused.
        // The query collection is case-insensitive, so other spellings of a name count as repeats too.
        if (SignedParameters.FirstOrDefault(p => query[p].Count > 1) is { } repeated)
        {
            LogRejected(context.Request.Path, $"{repeated} given more than once");
            return Problems.Unauthorized("invalid_proxy_signature", "This request was not signed by Shopify.");
        }
        if (query["shop"].Count != 1 || query["timestamp"].Count != 1 || query["signature"].Count != 1
            || !ShopifySignatures.IsValidAppProxyQuery(query, options.Value.Secrets()))
        {
            LogRejected(context.Request.Path, "bad or missing signature");
            return Problems.Unauthorized("invalid_proxy_signature", "This request was not signed by Shopify.");
        }
        if (!ShopDomain.TryNormalize(query["shop"], out var shop))
        {
            LogRejected(context.Request.Path, "shop is not a myshopify.com domain");
            return Problems.Unauthorized("invalid_proxy_signature", "This request was not signed by Shopify.");
        }
        if (!long.TryParse(query["timestamp"], NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp)
            || Math.Abs(clock.GetUtcNow().ToUnixTimeSeconds() - timestamp) > options.Value.SignatureMaxAgeSeconds)
        {
            LogRejected(context.Request.Path, "timestamp outside the window");
            return Problems.Unauthorized("stale_proxy_request", "This request is too old; reload the page.");
        }

        if (!TryReadCustomer(query["logged_in_customer_id"], out var customerId))
        {
            LogRejected(context.Request.Path, "logged_in_customer_id is not a customer id");
            return Problems.Unauthorized("invalid_proxy_signature", "This request was not signed by Shopify.");
        }
        if (customerRequired && customerId is null)
        {
            return Problems.Unauthorized("customer_not_logged_in", "Log in to your account to use your points.");
        }

        await using (var conn = await db.OpenConnectionAsync(context.RequestAborted))
        {
            var state = await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(
                "SELECT state FROM shops WHERE shop_domain = @shop", new { shop }, cancellationToken: context.RequestAborted));
            if (state != "installed")
            {
                LogRejected(context.Request.Path, $"shop {shop} is not installed");
                return Problems.Unauthorized("shop_not_installed", "The loyalty app is not installed on this shop.");
            }
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method)
            && context.Request.ContentType?.StartsWith("application/json", StringComparison.OrdinalIgnoreCase) != true)
        {
            return Problems.Create(StatusCodes.Status415UnsupportedMediaType, "json_required",
                "Send this request as application/json.");
        }

        AppProxy.Set(context, new AppProxyRequest(shop, customerId, query["path_prefix"].ToString() is { Length: > 0 } p ? p : null));
        return null;
    }

    /// <summary>The parameters Shopify adds and signs; each may appear at most once.</summary>
    private static readonly string[] SignedParameters = ["shop", "path_prefix", "timestamp", "signature", "logged_in_customer_id"];

    /// <summary>
    /// Absent or empty: a visitor who is not logged in. Otherwise Shopify's numeric id exactly as Shopify writes it:
    /// ASCII digits, no sign, space or leading zero, so one customer has one spelling (and one signature).
    /// </summary>
    private static bool TryReadCustomer(Microsoft.Extensions.Primitives.StringValues values, out long? customerId)
    {
        customerId = null;
        var raw = values.Count == 0 ? "" : values[0] ?? "";
        if (raw.Length == 0) return true;
        if (raw.Length > 19 || raw[0] == '0' || !raw.All(char.IsAsciiDigit)
            || !long.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }
        customerId = id;
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Refused app proxy request to {Path}: {Reason}")]
    private partial void LogRejected(string path, string reason);
}
