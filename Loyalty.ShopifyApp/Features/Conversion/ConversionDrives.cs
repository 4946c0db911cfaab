using System.Collections.Concurrent;
using System.Diagnostics;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>
/// The drives that go on after their request was answered (the customer's list written behind the answer,
/// <see cref="ConversionOptions.AnswerBeforeList"/>). On shutdown the host waits for them as long as its shutdown allows, so a deploy
/// does not cut a list's write short and leave it to the reconciler after the lease runs out; a drive still running past that ends
/// with the process, as after a crash. Each is traced as a span of its own, <c>conversion drive</c> on
/// <see cref="ActivitySourceName"/>, linked to the request's: the parent of the Shopify, POS and database spans it makes.
/// </summary>
public sealed partial class ConversionDrives(ILogger<ConversionDrives> logger) : IHostedService
{
    /// <summary>The ActivitySource of drives that go on after their request, exported with the app's traces.</summary>
    public const string ActivitySourceName = "Loyalty.Conversions";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly ConcurrentDictionary<Task, byte> _running = new();

    /// <summary>
    /// Starts <paramref name="drive"/> of conversion <paramref name="conversionId"/> outside the caller's execution context (its request's
    /// trace, which ends before the drive does, and its scopes) and tracks it.
    /// </summary>
    public void Start(string conversionId, Func<Task> drive)
    {
        var request = Activity.Current?.Context;
        Task task;
        using (ExecutionContext.SuppressFlow())
        {
            task = Task.Run(async () =>
            {
                using var span = Source.StartActivity("conversion drive", ActivityKind.Internal, parentContext: default,
                    tags: [new("conversion.id", conversionId)], links: request is { } r ? [new ActivityLink(r)] : null);
                await drive();
            });
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
