using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Loyalty.Tests.Infrastructure.Telemetry;

/// <summary>A logger provider that keeps every line with the fields of its scopes, as the JSON console would write them.</summary>
public sealed class CapturedLogs : ILoggerProvider, ISupportExternalScope
{
    public sealed record Line(string Category, LogLevel Level, string Message, IReadOnlyDictionary<string, object?> Fields);

    private readonly ConcurrentQueue<Line> _lines = new();
    private IExternalScopeProvider _scopes = new LoggerExternalScopeProvider();

    public IReadOnlyList<Line> Lines => _lines.ToArray();

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void SetScopeProvider(IExternalScopeProvider scopeProvider) => _scopes = scopeProvider;

    public void Dispose()
    {
    }

    private sealed class Logger(CapturedLogs owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => owner._scopes.Push(state);

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var fields = new Dictionary<string, object?>();
            owner._scopes.ForEachScope((scope, f) =>
            {
                if (scope is IEnumerable<KeyValuePair<string, object>> pairs)
                {
                    foreach (var (k, v) in pairs) f[k] = v;
                }
            }, fields);
            if (state is IEnumerable<KeyValuePair<string, object?>> own)
            {
                foreach (var (k, v) in own) fields[k] = v;
            }
            owner._lines.Enqueue(new Line(category, logLevel, formatter(state, exception), fields));
        }
    }
}
