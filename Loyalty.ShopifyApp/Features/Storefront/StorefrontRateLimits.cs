using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary>
/// Rate limits on the storefront (ASP.NET Core's rate limiter, fixed windows from <see cref="StorefrontOptions"/>): per
/// logged-in customer of a shop, tighter for coupon code checks (each may cost a Shopify call), per shop for all its
/// customers together, and per shop for its logged-out visitors together (apart, so replayed logged-out URLs cannot
/// lock the customers out). Past a limit: 429 <c>rate_limited</c> with <c>Retry-After</c>. The limiter runs after the app
/// proxy signature is verified, so the shop and customer it counts are Shopify's, never the caller's claim; requests
/// that fail verification were refused before and count nowhere. Other endpoints are not limited here.
/// </summary>
public static partial class StorefrontRateLimits
{
    /// <summary>Marks the storefront group: its endpoints count against the customer's and the shop's limits.</summary>
    private sealed record Limited;

    /// <summary>Marks a coupon code check: it also counts against the customer's code-check limit.</summary>
    private sealed record CodeCheck;

    public static IServiceCollection AddStorefrontLimits(this IServiceCollection services)
    {
        services.AddValidatedOptions<StorefrontOptions, StorefrontOptionsValidator>(StorefrontOptions.Section);
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<StorefrontOptions>>((limiter, storefront) =>
        {
            var o = storefront.Value;
            limiter.GlobalLimiter = PartitionedRateLimiter.CreateChained(
                Partitioned(o, o.CustomerRequestLimit, http => Storefront(http) is { CustomerId: { } c } p ? $"{p.Shop}\n{c}" : null),
                Partitioned(o, o.CustomerCodeCheckLimit, http => Storefront(http) is { CustomerId: { } c } p && IsCodeCheck(http) ? $"{p.Shop}\n{c}"
                    : null),
                // Logged-out visitors of a shop share a bucket of their own: a signed logged-out URL can be replayed for
                // its whole timestamp window, and must not use up the limit the shop's customers share.
                Partitioned(o, o.ShopRequestLimit, http => Storefront(http) is { } p ? p.CustomerId is null ? $"{p.Shop}\nlogged out" : p.Shop
                    : null));
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = RejectAsync;
        });
        return services;
    }

    /// <summary>Every endpoint of the storefront group counts against the limits.</summary>
    public static RouteGroupBuilder RequireStorefrontRateLimits(this RouteGroupBuilder group) =>
        group.WithMetadata(new Limited()).ProblemCodes(StatusCodes.Status429TooManyRequests, "rate_limited");

    /// <summary>The endpoint checks coupon codes: it also counts against <see cref="StorefrontOptions.CustomerCodeCheckLimit"/>.</summary>
    public static TBuilder RequireStorefrontCodeCheckLimit<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new CodeCheck());

    /// <summary>One fixed window per key; requests <paramref name="key"/> gives no key for are not limited by it.</summary>
    private static PartitionedRateLimiter<HttpContext> Partitioned(StorefrontOptions o, int permits, Func<HttpContext, string?> key) =>
        PartitionedRateLimiter.Create<HttpContext, string>(http => key(http) is { } k
            ? RateLimitPartition.GetFixedWindowLimiter(k, _ => new FixedWindowRateLimiterOptions
            {
                PermitLimit = permits,
                Window = TimeSpan.FromSeconds(o.WindowSeconds),
                QueueLimit = 0,
                AutoReplenishment = true,
            })
            : RateLimitPartition.GetNoLimiter(""));

    /// <summary>The verified app proxy request of a storefront endpoint, or null for any other request.</summary>
    private static AppProxyRequest? Storefront(HttpContext http) =>
        http.GetEndpoint()?.Metadata.GetMetadata<Limited>() is null ? null : http.Items.Values.OfType<AppProxyRequest>().FirstOrDefault();

    private static bool IsCodeCheck(HttpContext http) => http.GetEndpoint()?.Metadata.GetMetadata<CodeCheck>() is not null;

    private static async ValueTask RejectAsync(OnRejectedContext context, CancellationToken ct)
    {
        var http = context.HttpContext;
        var retryAfter = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var wait) ? wait : TimeSpan.FromSeconds(1);
        http.Response.Headers.RetryAfter = Math.Max(1, Math.Ceiling(retryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        var proxy = Storefront(http);
        LogRejected(http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StorefrontRateLimits)),
            proxy?.Shop ?? "unknown", proxy?.CustomerId, http.Request.Path, retryAfter.TotalSeconds);
        await Problems.WriteAsync(http, Problems.Create(StatusCodes.Status429TooManyRequests, "rate_limited",
            "Too many requests; please wait a moment and try again."));
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Storefront request to {Path} from customer {CustomerId} of {Shop} refused: rate limited for {RetryAfterSeconds:F0} s")]
    private static partial void LogRejected(ILogger logger, string shop, long? customerId, string path, double retryAfterSeconds);
}
