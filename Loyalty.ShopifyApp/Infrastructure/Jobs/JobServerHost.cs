using Hangfire;
using Hangfire.AspNetCore;
using Hangfire.Common;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// Runs this instance's Hangfire server when <see cref="JobsOptions.ServerEnabled"/> says so. Decided when the
/// host starts, from the bound options, so every configuration source counts. The server gets this host's
/// activator and filters, never Hangfire's process-wide defaults.
/// </summary>
internal sealed partial class JobServerHost(
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
            Queues = JobQueues.All,
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
