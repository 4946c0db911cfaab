using System.Security.Claims;
using Microsoft.AspNetCore.Authentication.JwtBearer;
using Microsoft.IdentityModel.Tokens;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// Shopify session tokens (App Bridge ID tokens) on every embedded-admin API call: HS256 signed with the
/// client secret, <c>aud</c> = client id, at most a few seconds of clock skew (not .NET's five minutes),
/// <c>iss</c> and <c>dest</c> naming the same shop. The shop is taken from <c>dest</c> and nothing else.
/// </summary>
public static class SessionTokens
{
    public const string Scheme = "ShopifySessionToken";
    public const string Policy = "ShopifyAdmin";
    public const string ShopClaim = "shop";
    public const string RetryHeader = "X-Shopify-Retry-Invalid-Session-Request";

    public static IHostApplicationBuilder AddShopifySessionTokens(this IHostApplicationBuilder builder)
    {
        builder.Services.AddAuthentication(Scheme).AddJwtBearer(Scheme, _ => { });
        builder.Services.AddSingleton<IConfigureOptions<JwtBearerOptions>, ConfigureJwtBearer>();
        builder.Services.AddAuthorizationBuilder()
            .AddPolicy(Policy, p => p.AddAuthenticationSchemes(Scheme).RequireAuthenticatedUser().RequireClaim(ShopClaim));
        return builder;
    }

    /// <summary>The authenticated shop of an admin request; only valid behind the <see cref="Policy"/>.</summary>
    public static string Shop(this ClaimsPrincipal user) =>
        user.FindFirstValue(ShopClaim) ?? throw new InvalidOperationException("No session token shop on this request.");

    private sealed class ConfigureJwtBearer(IOptions<ShopifyOptions> shopify) : IConfigureNamedOptions<JwtBearerOptions>
    {
        public void Configure(JwtBearerOptions options) => Configure(Scheme, options);

        public void Configure(string? name, JwtBearerOptions options)
        {
            if (name != Scheme) return;
            var o = shopify.Value;
            options.MapInboundClaims = false;
            options.RequireHttpsMetadata = false;
            options.TokenValidationParameters = new TokenValidationParameters
            {
                ValidAlgorithms = [SecurityAlgorithms.HmacSha256],
                IssuerSigningKeys = o.Secrets().Select(s => new SymmetricSecurityKey(Encoding.UTF8.GetBytes(s))).ToList(),
                ValidateIssuerSigningKey = true,
                RequireSignedTokens = true,
                ValidateAudience = true,
                ValidAudience = o.ApiKey,
                ValidateIssuer = false, // iss is checked against dest below
                ValidateLifetime = true,
                RequireExpirationTime = true,
                ClockSkew = TimeSpan.FromSeconds(o.SessionTokenClockSkewSeconds),
                NameClaimType = "sub",
            };
            options.Events = new JwtBearerEvents
            {
                OnTokenValidated = ValidateShopClaims,
                OnChallenge = async context =>
                {
                    context.HandleResponse();
                    context.Response.Headers[RetryHeader] = "1";
                    await Problems.WriteAsync(context.HttpContext, Problems.Unauthorized("invalid_session_token",
                        "A valid Shopify session token is required.",
                        "Send Authorization: Bearer <session token> from App Bridge; the token may have expired."));
                },
            };
        }

        private static Task ValidateShopClaims(TokenValidatedContext context)
        {
            var principal = context.Principal!;
            var dest = principal.FindFirstValue("dest");
            var iss = principal.FindFirstValue("iss");
            if (!Uri.TryCreate(dest, UriKind.Absolute, out var destUri) || destUri.Scheme != Uri.UriSchemeHttps
                || destUri.AbsolutePath is not ("/" or "") || !ShopDomain.TryNormalize(destUri.Host, out var shop))
            {
                context.Fail("The session token's dest is not a shop.");
                return Task.CompletedTask;
            }
            if (!Uri.TryCreate(iss, UriKind.Absolute, out var issUri) || issUri.Scheme != Uri.UriSchemeHttps
                || !string.Equals(issUri.Host, destUri.Host, StringComparison.OrdinalIgnoreCase) || issUri.AbsolutePath.TrimEnd('/') != "/admin")
            {
                context.Fail("The session token's iss and dest name different shops.");
                return Task.CompletedTask;
            }
            ((ClaimsIdentity)principal.Identity!).AddClaim(new Claim(ShopClaim, shop));
            return Task.CompletedTask;
        }
    }
}
