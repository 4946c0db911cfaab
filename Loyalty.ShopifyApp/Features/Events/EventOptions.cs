namespace Loyalty.ShopifyApp.Features.Events;

/// <summary>Section <c>Events</c>.</summary>
public sealed class EventOptions
{
    public int MaxAttempts { get; set; } = 15;

    public double RetryBaseDelaySeconds { get; set; } = 30;

    public double MaxRetryDelaySeconds { get; set; } = 6 * 3600;

    /// <summary>The longest one attempt (connect, send, answer) may take.</summary>
    public double TimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// The most of an endpoint's answer that is read (64 KiB; only its status matters). A longer answer is a failed
    /// attempt: endpoints are entered by merchants and the instance is shared.
    /// </summary>
    public int MaxResponseBytes { get; set; } = 64 * 1024;

    /// <summary>Accept http:// endpoints and private addresses (sandbox and tests only; refused at start-up outside Development).</summary>
    public bool AllowInsecureEndpoints { get; set; }

    /// <summary>Attempts one run makes at once: an endpoint that never answers holds one of them for an attempt's timeout, not the run.</summary>
    public int Parallelism { get; set; } = 8;

    /// <summary>Events claimed at a time, taken in turns across shops (each shop's oldest first).</summary>
    public int BatchSize { get; set; } = 50;

    /// <summary>
    /// Attempts one shop gets in one run: a shop with a backlog, or an endpoint that never answers, takes this share at most
    /// and the next run goes on with it.
    /// </summary>
    public int MaxPerShopPerRun { get; set; } = 10;

    /// <summary>
    /// The longest a run lasts: it starts no attempt that could end later, and hands back what it claimed but did not start.
    /// Claims are leased for longer (<see cref="LeaseSeconds"/>), so an event is never claimed twice while a run has it.
    /// </summary>
    public double MaxRunSeconds { get; set; } = 50;

    /// <summary>How long claimed events stay hidden from other runs: the longest run and a margin for its writes.</summary>
    public double LeaseSeconds => MaxRunSeconds + 60;

    internal const string LimitsRule = "Events: Parallelism must be 1-64, BatchSize 1-1000 and MaxPerShopPerRun 1-1000.";

    internal bool LimitsValid() => Parallelism is >= 1 and <= 64 && BatchSize is >= 1 and <= 1000 && MaxPerShopPerRun is >= 1 and <= 1000;

    internal const string RunRule = "Events: TimeoutSeconds must be 0-120 (more than 0) and MaxRunSeconds at least TimeoutSeconds (one attempt) and at most 600.";

    internal bool RunValid() => TimeoutSeconds is > 0 and <= 120 && MaxRunSeconds >= TimeoutSeconds && MaxRunSeconds <= 600;
}
