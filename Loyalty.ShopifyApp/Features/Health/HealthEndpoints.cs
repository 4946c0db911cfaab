using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Loyalty.ShopifyApp.Features.Health;

/// <summary>
/// <c>/health</c>: liveness, 200 while the process runs. <c>/health/ready</c>: readiness, 200 <c>{"status":"ready"}</c>
/// when every <see cref="ReadinessChecks"/> check passes, else 503 naming the failed ones in <c>failed</c>.
/// </summary>
public static class HealthEndpoints
{
    public sealed record HealthStatus(string Status);

    public sealed record ReadyStatus(string Status, IReadOnlyList<string> Failed, IReadOnlyDictionary<string, CheckStatus> Checks);

    public sealed record CheckStatus(string Status, string? Description);

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        app.MapGet("/health", () => TypedResults.Ok(new HealthStatus("up")));
        // as MapHealthChecks answered: load balancers probe with either
        app.MapMethods("/health/ready", [HttpMethods.Get, HttpMethods.Head], ReadyAsync);
        return app;
    }

    /// <summary>The readiness checks (<c>AddHealthChecks</c>), run now; never cached by anything in between.</summary>
    private static async Task<Results<Ok<ReadyStatus>, JsonHttpResult<ReadyStatus>>> ReadyAsync(HttpContext http, HealthCheckService checks,
        CancellationToken ct)
    {
        var report = await checks.CheckHealthAsync(r => r.Tags.Contains(ReadinessChecks.Tag), ct);
        http.Response.Headers.CacheControl = "no-store, no-cache";
        var body = Ready(report);
        return body.Failed.Count == 0 ? TypedResults.Ok(body) : TypedResults.Json(body, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private static ReadyStatus Ready(HealthReport report)
    {
        var failed = report.Entries.Where(e => e.Value.Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy)
            .Select(e => e.Key).ToList();
        return new ReadyStatus(
            failed.Count == 0 ? "ready" : "not ready: " + string.Join(", ", failed),
            failed,
            report.Entries.ToDictionary(e => e.Key, e => new CheckStatus(e.Value.Status.ToString(), e.Value.Description)));
    }
}
