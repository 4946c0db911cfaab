using System.Text.Json;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
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
        app.MapHealthChecks("/health/ready", new HealthCheckOptions
        {
            Predicate = r => r.Tags.Contains(ReadinessChecks.Tag),
            ResponseWriter = WriteReadyAsync,
        });
        return app;
    }

    private static Task WriteReadyAsync(HttpContext context, HealthReport report)
    {
        var failed = report.Entries.Where(e => e.Value.Status == Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy)
            .Select(e => e.Key).ToList();
        var body = new ReadyStatus(
            failed.Count == 0 ? "ready" : "not ready: " + string.Join(", ", failed),
            failed,
            report.Entries.ToDictionary(e => e.Key, e => new CheckStatus(e.Value.Status.ToString(), e.Value.Description)));
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(JsonSerializer.Serialize(body, JsonSerializerOptions.Web), context.RequestAborted);
    }
}
