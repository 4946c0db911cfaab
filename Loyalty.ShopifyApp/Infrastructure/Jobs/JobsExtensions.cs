using Hangfire;
using Hangfire.AspNetCore;
using ILog = Hangfire.Logging.ILog;
using ILogProvider = Hangfire.Logging.ILogProvider;
using Hangfire.Common;
using Hangfire.PostgreSql;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>Section <c>Jobs</c>: the Hangfire server of this instance, its dashboard and recurring schedules.</summary>
public sealed class JobsOptions
{
    public const string Section = "Jobs";

    /// <summary>Run a Hangfire server (workers) in this instance. Any number of instances may.</summary>
    public bool ServerEnabled { get; set; } = true;

    public int WorkerCount { get; set; } = 4;

    public int QueuePollIntervalMs { get; set; } = 1000;

    /// <summary>How often scheduled jobs are checked for being due: a conversion woken when Shopify's API budget allows runs this late at most.</summary>
    public int SchedulePollIntervalMs { get; set; } = 1000;

    /// <summary>Basic credentials for <c>/hangfire</c>; with none configured the dashboard refuses everyone.</summary>
    public string? DashboardUser { get; set; }

    public string? DashboardPassword { get; set; }

    /// <summary>Failed dashboard logins from one client address (an IPv6 /64) that lock it out for <see cref="DashboardLockoutSeconds"/>.</summary>
    public int DashboardMaxFailedLogins { get; set; } = 5;

    /// <summary>How long a locked-out address is refused, and how long a failed login is remembered.</summary>
    public int DashboardLockoutSeconds { get; set; } = 900;

    /// <summary>
    /// A job lock (recurring-job registration, <c>DisableConcurrentExecution</c>) older than this is taken as abandoned:
    /// an instance killed while holding one blocks the others no longer than this (Hangfire.PostgreSql's default is
    /// 10 minutes). Every job here is safe to run twice, so a long run that outlives its lock costs only work.
    /// </summary>
    public int DistributedLockTimeoutSeconds { get; set; } = 120;

    /// <summary>Recurring schedules (cron, UTC). Empty disables one.</summary>
    public Dictionary<string, string> Schedules { get; set; } = new()
    {
        ["pos-sync"] = "* * * * *",
        ["missed-orders-sweep"] = "*/15 * * * *",
        ["conversion-reconciler"] = "* * * * *",
        ["orphan-coupon-sweep"] = "17 * * * *",
        ["donation-settler"] = "* * * * *",
        ["event-delivery"] = "* * * * *",
    };
}

/// <summary>This instance's Hangfire server, as its readiness check looks for it: none until one is started.</summary>
public sealed class JobServerStatus
{
    public string? Name { get; internal set; }

    public DateTimeOffset? StartedAt { get; internal set; }
}

/// <summary>A recurring job the app schedules: its id, and what it runs.</summary>
public sealed record RecurringJobDefinition(string Id, Action<IRecurringJobManager, string> Register);

public static partial class JobsExtensions
{
    /// <summary>
    /// Hangfire on PostgreSQL (schema <c>hangfire</c>, through the app's data source). Storage is registered per
    /// app in DI, never through Hangfire's static JobStorage.Current, so jobs are only ever enqueued and run
    /// through injected clients.
    /// </summary>
    public static IHostApplicationBuilder AddLoyaltyJobs(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddOptions<JobsOptions>().BindConfiguration(JobsOptions.Section)
            .Validate(o => o.WorkerCount is > 0 and <= 100 && o.QueuePollIntervalMs > 0 && o.SchedulePollIntervalMs > 0 && o.DistributedLockTimeoutSeconds >= 10,
                "Jobs: WorkerCount must be 1-100, the poll intervals positive and DistributedLockTimeoutSeconds at least 10.")
            .Validate(o => o.DashboardMaxFailedLogins is >= 1 and <= 1000 && o.DashboardLockoutSeconds is >= 1 and <= 86_400,
                "Jobs: DashboardMaxFailedLogins must be 1-1000 and DashboardLockoutSeconds 1-86400.")
            .ValidateOnStart();
        services.AddJobsDashboardProtection();

        services.AddSingleton<JobStorage>(sp =>
        {
            var o = sp.GetRequiredService<IOptions<JobsOptions>>().Value;
            return new PostgreSqlStorage(new DataSourceConnectionFactory(sp.GetRequiredService<NpgsqlDataSource>()), new PostgreSqlStorageOptions
            {
                SchemaName = "hangfire",
                PrepareSchemaIfNecessary = true,
                QueuePollInterval = TimeSpan.FromMilliseconds(o.QueuePollIntervalMs),
                InvisibilityTimeout = TimeSpan.FromMinutes(30),
                UseSlidingInvisibilityTimeout = true,
                DistributedLockTimeout = TimeSpan.FromSeconds(o.DistributedLockTimeoutSeconds),
            });
        });
        services.AddSingleton<JobRunMetrics>();
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
    /// Runs this instance's Hangfire server when <see cref="JobsOptions.ServerEnabled"/> says so. Decided when the
    /// host starts, from the bound options, so every configuration source counts. The server gets this host's
    /// activator and filters, never Hangfire's process-wide defaults.
    /// </summary>
    private sealed partial class JobServerHost(
        IOptions<JobsOptions> options, JobStorage storage, IServiceScopeFactory scopes, IJobFilterProvider filters,
        JobServerStatus status, TimeProvider clock, ILogger<JobServerHost> logger) : IHostedService, IDisposable
    {
        private BackgroundJobServer? _server;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            var o = options.Value;
            if (!o.ServerEnabled)
            {
                LogDisabled();
                return Task.CompletedTask;
            }
            var name = $"{Environment.MachineName}:{Environment.ProcessId}";
            status.Name = name;
            status.StartedAt = clock.GetUtcNow();
            _server = new BackgroundJobServer(new BackgroundJobServerOptions
            {
                WorkerCount = o.WorkerCount,
                SchedulePollingInterval = TimeSpan.FromMilliseconds(o.SchedulePollIntervalMs),
                ServerName = name,
                Activator = new AspNetCoreJobActivator(scopes),
                FilterProvider = filters,
            }, storage);
            return Task.CompletedTask;
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            // Whichever of stop and dispose comes first shuts the server down; the other finds nothing to do.
            if (Interlocked.Exchange(ref _server, null) is not { } server) return;
            server.SendStop();
            await server.WaitForShutdownAsync(cancellationToken);
            server.Dispose();
        }

        public void Dispose() => Interlocked.Exchange(ref _server, null)?.Dispose();

        [LoggerMessage(Level = LogLevel.Information, Message = "No Hangfire server in this instance (Jobs:ServerEnabled is false); jobs run elsewhere")]
        private partial void LogDisabled();
    }

    /// <summary>
    /// Hangfire logs through one process-wide provider, which Hangfire.AspNetCore points at the last host's
    /// logger factory. When several hosts share a process (the test suite runs many), a disposed host's
    /// factory would throw inside every other host's Hangfire server; this wrapper drops such log lines instead.
    /// </summary>
    private sealed class DisposalSafeLogProvider(ILoggerFactory factory) : ILogProvider
    {
        private readonly AspNetCoreLogProvider _inner = new(factory);

        public ILog GetLogger(string name)
        {
            try
            {
                return new SafeLog(_inner.GetLogger(name));
            }
            catch (ObjectDisposedException)
            {
                return new SafeLog(null);
            }
        }

        private sealed class SafeLog(ILog? inner) : ILog
        {
            public bool Log(Hangfire.Logging.LogLevel logLevel, Func<string>? messageFunc, Exception? exception = null)
            {
                try
                {
                    return inner?.Log(logLevel, messageFunc, exception) ?? false;
                }
                catch (ObjectDisposedException)
                {
                    return false;
                }
            }
        }
    }

    private sealed class DataSourceConnectionFactory(NpgsqlDataSource dataSource) : IConnectionFactory
    {
        public NpgsqlConnection GetOrCreateConnection() => dataSource.CreateConnection();
    }

    /// <summary>
    /// Registers (or updates) every recurring job with its configured schedule at start-up. Registration takes a job
    /// lock; one left by an instance killed while holding it would make start-up fail, so a job whose lock is not free
    /// is registered again in the background until it is (the lock is abandoned after DistributedLockTimeoutSeconds).
    /// </summary>
    private sealed partial class RecurringJobsRegistration(
        IEnumerable<RecurringJobDefinition> definitions, IRecurringJobManager manager, IOptions<JobsOptions> options,
        ILogger<RecurringJobsRegistration> logger) : IHostedService
    {
        private readonly CancellationTokenSource _stopping = new();
        private Task _retries = Task.CompletedTask;

        public Task StartAsync(CancellationToken cancellationToken)
        {
            var pending = definitions.Where(job => !TryRegister(job)).ToList();
            if (pending.Count > 0) _retries = RetryAsync(pending, _stopping.Token);
            return Task.CompletedTask;
        }

        private async Task RetryAsync(List<RecurringJobDefinition> pending, CancellationToken ct)
        {
            while (pending.Count > 0 && !ct.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(5), ct);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                pending.RemoveAll(TryRegister);
            }
        }

        private bool TryRegister(RecurringJobDefinition job)
        {
            try
            {
                if (options.Value.Schedules.TryGetValue(job.Id, out var cron) && !string.IsNullOrWhiteSpace(cron))
                {
                    job.Register(manager, cron);
                    LogScheduled(job.Id, cron);
                }
                else
                {
                    manager.RemoveIfExists(job.Id);
                    LogDisabled(job.Id);
                }
                return true;
            }
            catch (Exception e) when (e is Hangfire.Storage.DistributedLockTimeoutException or Hangfire.PostgreSql.PostgreSqlDistributedLockException)
            {
                LogLockBusy(e, job.Id);
                return false;
            }
            catch (Exception e) when (e is Npgsql.NpgsqlException or TimeoutException)
            {
                // An instance started while the database is away (a restart, a failover): it comes up and registers later.
                LogDatabaseAway(e, job.Id);
                return false;
            }
        }

        public async Task StopAsync(CancellationToken cancellationToken)
        {
            await _stopping.CancelAsync();
            await _retries;
        }

        [LoggerMessage(Level = LogLevel.Warning, Message = "Recurring job {JobId}: its lock is held (perhaps by a killed instance); registering it again shortly")]
        private partial void LogLockBusy(Exception e, string jobId);

        [LoggerMessage(Level = LogLevel.Warning, Message = "Recurring job {JobId}: the database cannot be reached; registering it again shortly")]
        private partial void LogDatabaseAway(Exception e, string jobId);

        [LoggerMessage(Level = LogLevel.Information, Message = "Recurring job {JobId} scheduled at '{Cron}'")]
        private partial void LogScheduled(string jobId, string cron);

        [LoggerMessage(Level = LogLevel.Information, Message = "Recurring job {JobId} has no schedule and is disabled")]
        private partial void LogDisabled(string jobId);
    }
}
