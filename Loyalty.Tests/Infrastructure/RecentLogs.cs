using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// The app's latest log lines (its own, Hangfire's and Npgsql's, Information and up), kept so that a test that times out waiting for
/// background work can say what the app was doing instead of only what it did not see.
/// </summary>
public sealed class RecentLogs : ILoggerProvider
{
    private const int Capacity = 500;
    private readonly ConcurrentQueue<string> _lines = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    /// <summary>The last <paramref name="max"/> lines, oldest first; only those containing <paramref name="contains"/> when given.</summary>
    public string Tail(int max = 40, string? contains = null)
    {
        var lines = _lines.ToArray().Where(l => contains is null || l.Contains(contains, StringComparison.Ordinal)).TakeLast(max);
        return string.Join(Environment.NewLine, lines);
    }

    public void Dispose()
    {
    }

    private void Add(string line)
    {
        _lines.Enqueue(line);
        while (_lines.Count > Capacity) _lines.TryDequeue(out _);
    }

    private sealed class Logger(RecentLogs owner, string category) : ILogger
    {
        private readonly bool _kept = category.StartsWith("Loyalty", StringComparison.Ordinal)
            || category.StartsWith("Hangfire", StringComparison.Ordinal) || category.StartsWith("Npgsql", StringComparison.Ordinal);

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => _kept && logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            var error = exception is null ? "" : $" [{exception.GetType().Name}: {exception.Message}]";
            owner.Add($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel.ToString()[..4]} {category[(category.LastIndexOf('.') + 1)..]}: " +
                $"{formatter(state, exception)}{error}");
        }
    }
}
