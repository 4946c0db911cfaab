using System.Security.Cryptography;
using Hangfire;
using Hangfire.Dashboard;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// <c>/hangfire</c>, Hangfire's dashboard, for operators. It can trigger and delete jobs, so every request first passes
/// <see cref="DashboardGuard"/>: pages are never framed (<c>X-Frame-Options: DENY</c>, <c>frame-ancestors 'none'</c>),
/// changes from another site are refused (<c>Origin</c>/<c>Sec-Fetch-Site</c>), Basic credentials from configuration are
/// required with a lockout after repeated failures per client address, and Hangfire itself checks an antiforgery token on
/// every POST (its pages send it; the antiforgery service is what turns that check on). It still belongs on an internal
/// network: Basic credentials are only as good as the TLS in front of them.
/// </summary>
public static partial class JobsDashboard
{
    public const string Path = "/hangfire";

    private const string GuardPassed = "loyalty.jobs-dashboard.guarded";

    /// <summary>The antiforgery service (Hangfire validates its POSTs with it) and the lockout's memory.</summary>
    public static IServiceCollection AddJobsDashboardProtection(this IServiceCollection services)
    {
        services.AddAntiforgery(o =>
        {
            o.Cookie.Name = "loyalty-jobs-antiforgery";
            o.Cookie.Path = Path;
            o.Cookie.SameSite = SameSiteMode.Strict;
        });
        services.AddSingleton<DashboardLockout>();
        return services;
    }

    /// <summary>The dashboard, behind <see cref="DashboardGuard"/>.</summary>
    public static WebApplication MapJobsDashboard(this WebApplication app)
    {
        app.UseWhen(http => http.Request.Path.StartsWithSegments(Path), branch => branch.UseMiddleware<DashboardGuard>());
        app.UseHangfireDashboard(Path, new DashboardOptions
        {
            // Hangfire's own check only confirms the guard ran: a dashboard mapped without it refuses everyone.
            Authorization = [new GuardedOnly()],
            DisplayStorageConnectionString = false,
            AppPath = null,
        }, app.Services.GetRequiredService<JobStorage>());
        return app;
    }

    private sealed class GuardedOnly : IDashboardAuthorizationFilter
    {
        public bool Authorize(DashboardContext context) => context.GetHttpContext().Items.ContainsKey(GuardPassed);
    }

    /// <summary>Frame protection, same-origin changes, lockout and Basic credentials, in that order.</summary>
    private sealed partial class DashboardGuard(RequestDelegate next, IOptions<JobsOptions> options, DashboardLockout lockout,
        ILogger<DashboardGuard> logger)
    {
        public async Task InvokeAsync(HttpContext http)
        {
            var headers = http.Response.Headers;
            headers.XFrameOptions = "DENY";
            headers.ContentSecurityPolicy = "frame-ancestors 'none'";
            headers.XContentTypeOptions = "nosniff";

            if (!HttpMethods.IsGet(http.Request.Method) && !HttpMethods.IsHead(http.Request.Method) && IsCrossOrigin(http.Request))
            {
                LogCrossOrigin(http.Request.Method, http.Request.Path, http.Request.Headers.Origin.ToString());
                await Problems.WriteAsync(http, Problems.Create(StatusCodes.Status403Forbidden, "cross_origin_request",
                    "The jobs dashboard accepts changes only from its own pages."));
                return;
            }

            var client = http.Connection.RemoteIpAddress;
            if (lockout.LockedFor(client) is { } wait)
            {
                headers.RetryAfter = Math.Ceiling(wait.TotalSeconds).ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Problems.WriteAsync(http, Problems.Create(StatusCodes.Status429TooManyRequests, "dashboard_locked_out",
                    "Too many failed logins from this address; try again later."));
                return;
            }

            var o = options.Value;
            var given = http.Request.Headers.Authorization.ToString();
            if (!Matches(given, o.DashboardUser, o.DashboardPassword))
            {
                // A request without credentials is the browser asking for the prompt; only a wrong answer counts.
                if (given.Length > 0 && lockout.Failed(client))
                {
                    LogLockedOut(client?.ToString() ?? "unknown", o.DashboardMaxFailedLogins, o.DashboardLockoutSeconds);
                }
                headers.WWWAuthenticate = "Basic realm=\"Loyalty jobs\"";
                await Problems.WriteAsync(http, Problems.Unauthorized("dashboard_credentials_required", "The jobs dashboard needs its credentials."));
                return;
            }
            lockout.Succeeded(client);
            http.Items[GuardPassed] = true;
            await next(http);
        }

        /// <summary>
        /// A browser says where an unsafe request comes from: <c>Sec-Fetch-Site</c> (anything but same-origin is refused) and
        /// <c>Origin</c> (its host must be this one). A client that sends neither is not a browser acting for another site.
        /// </summary>
        private static bool IsCrossOrigin(HttpRequest request)
        {
            var site = request.Headers["Sec-Fetch-Site"].ToString();
            if (site.Length > 0 && !site.Equals("same-origin", StringComparison.OrdinalIgnoreCase)) return true;
            var origin = request.Headers.Origin.ToString();
            if (origin.Length == 0) return false;
            return !Uri.TryCreate(origin, UriKind.Absolute, out var from)
                   || !string.Equals(from.Authority, request.Host.Value, StringComparison.OrdinalIgnoreCase)
                      && !string.Equals(from.Host, request.Host.Host, StringComparison.OrdinalIgnoreCase);
        }

        private static bool Matches(string header, string? user, string? password)
        {
            if (string.IsNullOrEmpty(user) || string.IsNullOrEmpty(password)) return false;
            if (!header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)) return false;
            try
            {
                var given = Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Convert.FromBase64String(header[6..].Trim())));
                return CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes($"{user}:{password}"));
            }
            catch (FormatException)
            {
                return false;
            }
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "Refused a cross-origin {Method} {Path} to the jobs dashboard (Origin {Origin})")]
        private partial void LogCrossOrigin(string method, string path, string origin);

        [LoggerMessage(Level = LogLevel.Warning,
            Message = "Jobs dashboard: {Client} is locked out after {MaxFailures} failed logins, for {LockoutSeconds} s")]
        private partial void LogLockedOut(string client, int maxFailures, int lockoutSeconds);
    }
}
