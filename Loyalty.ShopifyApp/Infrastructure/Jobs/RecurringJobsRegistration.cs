using Hangfire;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// Registers (or updates) every recurring job with its schedule at start-up: <c>Jobs:Schedules:{id}</c> when set, else the
/// default it was registered with. Registration takes a job lock; one left by an instance killed while holding it would make
/// start-up fail, so a job whose lock is not free is registered again in the background until it is (the lock is abandoned
/// after DistributedLockTimeoutSeconds).
/// </summary>
// Not disposed on purpose: the host can call StopAsync after the container disposed its services (seen in tests), and a
// CancellationTokenSource without a timer holds nothing that needs releasing.
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "See the comment above.")]
internal sealed partial class RecurringJobsRegistration(
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
            var cron = options.Value.Schedules.TryGetValue(job.Id, out var configured) ? configured : job.DefaultCron;
            if (!string.IsNullOrWhiteSpace(cron))
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

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Recurring job {JobId}: its lock is held (perhaps by a killed instance); registering it again shortly")]
    private partial void LogLockBusy(Exception e, string jobId);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Recurring job {JobId}: the database cannot be reached; registering it again shortly")]
    private partial void LogDatabaseAway(Exception e, string jobId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recurring job {JobId} scheduled at '{Cron}'")]
    private partial void LogScheduled(string jobId, string cron);

    [LoggerMessage(Level = LogLevel.Information, Message = "Recurring job {JobId} has no schedule and is disabled")]
    private partial void LogDisabled(string jobId);
}
