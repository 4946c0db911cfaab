using Dapper;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.Health;

/// <summary><c>/health</c>: the process is up. <c>/health/ready</c>: it can reach its database.</summary>
public static partial class HealthEndpoints
{
    public sealed record HealthStatus(string Status);

    public static IEndpointRouteBuilder MapHealth(this IEndpointRouteBuilder app)
    {
        var health = app.MapGroup("/health");
        health.MapGet("/", () => TypedResults.Ok(new HealthStatus("up")));
        health.MapGet("/ready", ReadyAsync);
        return app;
    }

    private static async Task<Results<Ok<HealthStatus>, JsonHttpResult<HealthStatus>>> ReadyAsync(NpgsqlDataSource db, ILoggerFactory loggers, CancellationToken ct)
    {
        try
        {
            await using var conn = await db.OpenConnectionAsync(ct);
            await conn.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: ct, commandTimeout: 5));
            return TypedResults.Ok(new HealthStatus("ready"));
        }
        catch (Exception e) when (e is NpgsqlException or TimeoutException)
        {
            LogNotReady(loggers.CreateLogger(typeof(HealthEndpoints)), e);
            return TypedResults.Json(new HealthStatus("database unreachable"), statusCode: StatusCodes.Status503ServiceUnavailable);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Not ready: the database is unreachable")]
    private static partial void LogNotReady(ILogger logger, Exception e);
}
