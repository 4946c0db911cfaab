namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary>
/// <c>/proxy</c>: what Shopify forwards from <c>/apps/loyalty/*</c> on the storefront. Every endpoint in the
/// group is verified as an app proxy request; the customer is <c>logged_in_customer_id</c> and nothing else. Every
/// endpoint counts against the storefront's rate limits (<see cref="StorefrontRateLimits"/>).
/// </summary>
public static class StorefrontApi
{
    public sealed record Session(string Shop, bool LoggedIn, long? CustomerId);

    public static RouteGroupBuilder MapStorefrontApi(this IEndpointRouteBuilder app)
    {
        var proxy = app.MapGroup("/proxy").RequireAppProxySignature().RequireStorefrontRateLimits();
        // Lets the storefront script know whether a customer is logged in before it offers points actions.
        proxy.MapGet("/api/session", (HttpContext http) =>
        {
            var p = http.Proxy();
            return TypedResults.Ok(new Session(p.Shop, p.CustomerId is not null, p.CustomerId));
        });
        return proxy;
    }
}
