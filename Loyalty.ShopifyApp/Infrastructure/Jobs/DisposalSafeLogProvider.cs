using Hangfire.AspNetCore;
using ILog = Hangfire.Logging.ILog;
using ILogProvider = Hangfire.Logging.ILogProvider;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// Hangfire logs through one process-wide provider, which Hangfire.AspNetCore points at the last host's
/// logger factory. When several hosts share a process (the test suite runs many), a disposed host's
/// factory would throw inside every other host's Hangfire server; this wrapper drops such log lines instead.
/// </summary>
internal sealed class DisposalSafeLogProvider(ILoggerFactory factory) : ILogProvider
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
