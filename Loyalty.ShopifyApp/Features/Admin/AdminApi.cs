using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Admin;

/// <summary>
/// <c>/api/admin</c>: the embedded admin's API. Every call carries a Shopify session token; the first one
/// for a shop we hold no usable token for installs the shop by token exchange before the endpoint runs.
/// </summary>
public static class AdminApi
{
    public static RouteGroupBuilder MapAdminApi(this IEndpointRouteBuilder app)
    {
        var group = app.MapGroup("/api/admin").RequireAuthorization(SessionTokens.Policy)
            .ProblemCodes(StatusCodes.Status401Unauthorized, "invalid_session_token") // SessionTokens' challenge, and the filter below
            .ProblemCodes(StatusCodes.Status503ServiceUnavailable, "shopify_unavailable");
        group.AddEndpointFilter<EnsureInstalledFilter>();
        return group;
    }

    private sealed class EnsureInstalledFilter : IEndpointFilter
    {
        public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
        {
            var http = context.HttpContext;
            var installation = http.RequestServices.GetRequiredService<ShopInstallation>();
            using var scope = http.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(AdminApi)).BeginShopScope(
                http.User.Shop());
            var sessionToken = http.Request.Headers.Authorization.ToString()["Bearer ".Length..].Trim();
            try
            {
                await installation.EnsureInstalledAsync(http.User.Shop(), sessionToken, http.RequestAborted);
            }
            catch (ShopifyGrantRejectedException)
            {
                http.Response.Headers[SessionTokens.RetryHeader] = "1";
                return Problems.Unauthorized("invalid_session_token", "Shopify did not accept this session token; App Bridge will fetch a new one.");
            }
            catch (ShopifyUnavailableException)
            {
                http.Response.Headers.RetryAfter = "5";
                return Problems.Unavailable("shopify_unavailable", "Shopify could not be reached to finish installing the app; try again shortly.");
            }
            return await next(context);
        }
    }
}
