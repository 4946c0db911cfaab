using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// <c>POST /sandbox/clock { days }</c>: moves the points program's time (<see cref="ProgramClock"/>) that many days ahead of today,
/// 0 to go back, so the demo shows an order's pending points becoming available without waiting out the period.
/// </summary>
public static partial class SandboxPages
{
    /// <summary>The furthest the sandbox moves the program's time: ten years.</summary>
    public const int MaxClockDays = 3650;

    public sealed record ClockRequest(int? Days);

    public sealed record ClockState(int Days, DateTimeOffset Now);

    private static Results<Ok<ClockState>, ProblemHttpResult> SetClock(ClockRequest request, ProgramClock clock, ILoggerFactory loggers)
    {
        if (request.Days is not (>= 0 and <= MaxClockDays))
            return Problems.Validation("invalid_days", $"days is 0 (today) to {MaxClockDays} (days ahead of today).");
        clock.SetOffset(TimeSpan.FromDays(request.Days.Value));
        LogClock(loggers.CreateLogger(typeof(SandboxPages)), request.Days.Value, clock.Now);
        return TypedResults.Ok(Clock(clock));
    }

    private static ClockState Clock(ProgramClock clock) => new((int)clock.Offset.TotalDays, clock.Now);

    [LoggerMessage(Level = LogLevel.Information, Message = "Sandbox: the points program's time is now {Days} days ahead ({Now:u})")]
    private static partial void LogClock(ILogger logger, int days, DateTimeOffset now);
}
