using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Db;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Loyalty.ShopifyApp.Features.Health;

/// <summary>
/// What <c>/health/ready</c> checks: the database answers, every embedded migration is recorded in
/// <c>schema_migrations</c>, and this instance's Hangfire server (when it runs one) is beating.
/// </summary>
public static class ReadinessChecks
{
    public const string Tag = "ready";

    public static IServiceCollection AddReadinessChecks(this IServiceCollection services)
    {
        var timeout = TimeSpan.FromSeconds(5);
        services.AddHealthChecks()
            .AddCheck<DatabaseCheck>("database", HealthStatus.Unhealthy, [Tag], timeout)
            .AddCheck<MigrationsCheck>("migrations", HealthStatus.Unhealthy, [Tag], timeout)
            .AddCheck<JobServerCheck>("jobs", HealthStatus.Unhealthy, [Tag], timeout);
        return services;
    }

    private sealed class DatabaseCheck(NpgsqlDataSource db) : IHealthCheck
    {
        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await using var conn = await db.OpenConnectionAsync(cancellationToken);
                await conn.ExecuteScalarAsync<int>(new CommandDefinition("SELECT 1", cancellationToken: cancellationToken, commandTimeout: 5));
                return HealthCheckResult.Healthy();
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("database unreachable", e);
            }
        }
    }

    private sealed class MigrationsCheck(NpgsqlDataSource db) : IHealthCheck
    {
        private static readonly int[] Expected = Migrator.Embedded().Select(m => m.Version).ToArray();

        public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            try
            {
                await using var conn = await db.OpenConnectionAsync(cancellationToken);
                var applied = (await conn.QueryAsync<int>(new CommandDefinition(
                    "SELECT version FROM schema_migrations", cancellationToken: cancellationToken, commandTimeout: 5))).ToHashSet();
                var missing = Expected.Where(v => !applied.Contains(v)).ToList();
                return missing.Count == 0
                    ? HealthCheckResult.Healthy()
                    : HealthCheckResult.Unhealthy($"migrations not applied: {string.Join(", ", missing)}");
            }
            catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UndefinedTable)
            {
                return HealthCheckResult.Unhealthy("no schema_migrations table: the database was never migrated");
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException)
            {
                return HealthCheckResult.Unhealthy("database unreachable", e);
            }
        }
    }

    /// <summary>
    /// This instance's Hangfire server has a recent heartbeat in the job storage. Hangfire announces a server a moment
    /// after it starts, so a server started less than <see cref="StartGrace"/> ago counts as alive meanwhile.
    /// </summary>
    private sealed class JobServerCheck(JobServerStatus server, JobStorage storage, TimeProvider clock) : IHealthCheck
    {
        private static readonly TimeSpan StartGrace = TimeSpan.FromMinutes(1);
        private static readonly TimeSpan MaxHeartbeatAge = TimeSpan.FromMinutes(2);

        public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
        {
            if (server.Name is not { } name || server.StartedAt is not { } startedAt)
            {
                return Task.FromResult(HealthCheckResult.Healthy("no job server in this instance"));
            }
            var now = clock.GetUtcNow();
            try
            {
                var beating = storage.GetMonitoringApi().Servers().Any(s =>
                    s.Name.StartsWith(name + ":", StringComparison.OrdinalIgnoreCase)
                    && s.Heartbeat is { } beat && now - new DateTimeOffset(DateTime.SpecifyKind(beat, DateTimeKind.Utc)) < MaxHeartbeatAge);
                if (beating || now - startedAt < StartGrace) return Task.FromResult(HealthCheckResult.Healthy());
                return Task.FromResult(
                    HealthCheckResult.Unhealthy($"job server {name} has no heartbeat in the last {MaxHeartbeatAge.TotalSeconds:F0} s"));
            }
            catch (Exception e) when (e is NpgsqlException or TimeoutException or InvalidOperationException)
            {
                return Task.FromResult(HealthCheckResult.Unhealthy("job storage unreachable", e));
            }
        }
    }
}
