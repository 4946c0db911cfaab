using System.Linq.Expressions;
using Hangfire;
using Hangfire.Common;
using Hangfire.PostgreSql;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

public static class JobsExtensions
{
    /// <summary>
    /// Hangfire on PostgreSQL (schema <c>hangfire</c>, through the app's data source). Storage is registered per
    /// app in DI, never through Hangfire's static JobStorage.Current, so jobs are only ever enqueued and run
    /// through injected clients.
    /// </summary>
    public static IHostApplicationBuilder AddLoyaltyJobs(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddValidatedOptions<JobsOptions, JobsOptionsValidator>(JobsOptions.Section);
        services.AddSingleton<IValidateOptions<JobsOptions>, FanOutSpreadCheck>();
        services.AddJobsDashboardProtection();

        services.AddSingleton<JobStorage>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<JobsOptions>>().Value;
            return new PostgreSqlStorage(new DataSourceConnectionFactory(sp.GetRequiredService<NpgsqlDataSource>()), new PostgreSqlStorageOptions
            {
                SchemaName = "hangfire",
                PrepareSchemaIfNecessary = true,
                QueuePollInterval = TimeSpan.FromMilliseconds(o.QueuePollIntervalMs),
                InvisibilityTimeout = TimeSpan.FromSeconds(o.InvisibilityTimeoutSeconds),
                UseSlidingInvisibilityTimeout = true,
                DistributedLockTimeout = TimeSpan.FromSeconds(o.DistributedLockTimeoutSeconds),
            });
        });
        services.AddSingleton<JobRunMetrics>();
        services.AddSingleton<ShopFanOut>();
        // Before AddHangfire, which otherwise registers only the process-wide providers.
        services.AddSingleton<IJobFilterProvider>(sp =>
            new JobFilterProviderCollection(JobFilterProviders.Providers, new HostJobFilters(sp.GetRequiredService<JobRunMetrics>())));
        services.AddHangfire((sp, config) => config
            .SetDataCompatibilityLevel(CompatibilityLevel.Version_180)
            .UseSimpleAssemblyNameTypeSerializer()
            .UseRecommendedSerializerSettings()
            .UseLogProvider(new DisposalSafeLogProvider(sp.GetRequiredService<ILoggerFactory>())));

        services.AddSingleton<JobServerStatus>();
        services.AddHostedService<JobServerHost>();
        services.AddHostedService<RecurringJobsRegistration>();
        return builder;
    }

    /// <summary>
    /// Schedules <paramref name="run"/> as recurring job <paramref name="id"/> at start-up, at <paramref name="defaultCron"/>
    /// (cron, UTC) unless <c>Jobs:Schedules:{id}</c> sets another schedule or an empty one, which disables the job.
    /// </summary>
    public static IServiceCollection AddRecurringJob<T>(this IServiceCollection services, string id, string defaultCron, Expression<Func<T,
        Task>> run)
    {
        services.AddSingleton(new RecurringJobDefinition(id, defaultCron, (jobs, cron) => jobs.AddOrUpdate(id, run, cron)));
        return services;
    }

    private sealed class DataSourceConnectionFactory(NpgsqlDataSource dataSource) : IConnectionFactory
    {
        public NpgsqlConnection GetOrCreateConnection() => dataSource.CreateConnection();
    }
}
