using System.Collections.Concurrent;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The drives that go on after their request was answered (the customer's list written behind the answer,
/// <see cref="ConversionOptions.AnswerBeforeList"/>). On shutdown the host waits for them as long as its shutdown allows, so a deploy
/// does not cut a list's write short and leave it to the reconciler after the lease runs out; a drive still running past that ends
/// with the process, as after a crash.
/// </summary>
public sealed partial class ConversionDrives(ILogger<ConversionDrives> logger) : IHostedService
{
    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>Starts <paramref name="drive"/> outside the caller's execution context (its request's trace and scopes) and tracks it.</summary>
    public void Start(Func<Task> drive)
    {
        Task task;
        using (ExecutionContext.SuppressFlow())
        {
            task = Task.Run(drive);
        }
        _running.TryAdd(task, 0);
        _ = task.ContinueWith(t => _running.TryRemove(t, out _), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously,
            TaskScheduler.Default);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        var running = _running.Keys.ToArray();
        if (running.Length == 0) return;
        LogWaiting(running.Length);
        try
        {
            await Task.WhenAll(running).WaitAsync(cancellationToken);
        }
        catch (OperationCanceledException) // a drive does not throw: it answers or logs its own failure
        {
            LogLeft(_running.Count);
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Shutting down: waiting for {Count} conversion drive(s) answered already")]
    private partial void LogWaiting(int count);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Shut down with {Count} conversion drive(s) still running; their leases run out and the reconciler finishes them")]
    private partial void LogLeft(int count);
}
