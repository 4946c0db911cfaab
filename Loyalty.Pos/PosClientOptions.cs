namespace Loyalty.Pos;

/// <summary>Resilience of POS calls. Section <c>Pos</c> in the app.</summary>
public sealed class PosClientOptions
{
    public const string Section = "Pos";

    /// <summary>Timeout of one attempt.</summary>
    public double AttemptTimeoutSeconds { get; set; } = 5;

    /// <summary>Timeout of a call including its retries.</summary>
    public double TotalTimeoutSeconds { get; set; } = 20;

    /// <summary>Retries of transient failures (408, 429 honouring Retry-After, 5xx, connection errors, attempt timeouts).</summary>
    public int MaxRetries { get; set; } = 3;

    /// <summary>First retry delay; grows exponentially with jitter.</summary>
    public int RetryBaseDelayMs { get; set; } = 200;

    /// <summary>Failure ratio over <see cref="CircuitSamplingSeconds"/> at which one POS connection's (host and API key) circuit opens.</summary>
    public double CircuitFailureRatio { get; set; } = 0.5;

    public int CircuitMinimumThroughput { get; set; } = 20;

    public double CircuitSamplingSeconds { get; set; } = 30;

    public double CircuitBreakSeconds { get; set; } = 15;

    /// <summary>
    /// The most POS connections whose pipelines (and circuits) an instance keeps in memory; beyond it the least recently used is
    /// dropped, and its circuit starts closed if it comes back. At least the number of POS-mode shops an instance serves in a few minutes.
    /// </summary>
    public int MaxCircuits { get; set; } = 10_000;

    /// <summary>
    /// How long an instance goes by what the <see cref="IPosCircuitBoard"/> last said of a shop's POS connection (a break another
    /// instance shared, or none) before it asks again: one read per shop and connection in this time, not one per call.
    /// </summary>
    public double SharedCircuitRefreshSeconds { get; set; } = 2;

    /// <summary>
    /// POS URLs are entered by merchants; by default they may not point at loopback or private networks
    /// (server-side request forgery). The local sandbox and tests turn this on; the app refuses it at start-up outside Development.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>
    /// The most of one answer the client reads (64 KiB; the POS API's answers are a few hundred bytes). A longer answer
    /// fails the call at once, without a retry; POS URLs are entered by merchants and the instance is shared.
    /// </summary>
    public int MaxResponseBytes { get; set; } = 64 * 1024;

    internal IEnumerable<string> Errors()
    {
        if (MaxResponseBytes is < 1024 or > 16 * 1024 * 1024) yield return "Pos:MaxResponseBytes must be between 1024 and 16777216.";
        if (AttemptTimeoutSeconds <= 0) yield return "Pos:AttemptTimeoutSeconds must be positive.";
        if (TotalTimeoutSeconds < AttemptTimeoutSeconds) yield return "Pos:TotalTimeoutSeconds must be at least Pos:AttemptTimeoutSeconds.";
        if (MaxRetries is < 0 or > 10) yield return "Pos:MaxRetries must be between 0 and 10.";
        if (RetryBaseDelayMs < 0) yield return "Pos:RetryBaseDelayMs must not be negative.";
        if (CircuitFailureRatio is <= 0 or > 1) yield return "Pos:CircuitFailureRatio must be in (0, 1].";
        if (CircuitMinimumThroughput < 2) yield return "Pos:CircuitMinimumThroughput must be at least 2.";
        if (MaxCircuits is < 1 or > 1_000_000) yield return "Pos:MaxCircuits must be between 1 and 1,000,000.";
        if (SharedCircuitRefreshSeconds is < 0.1 or > 60) yield return "Pos:SharedCircuitRefreshSeconds must be between 0.1 and 60.";
        if (CircuitSamplingSeconds < 0.5
            || CircuitBreakSeconds < 0.5) yield return "Pos:CircuitSamplingSeconds and Pos:CircuitBreakSeconds must be at least 0.5.";
    }
}
