using System.ComponentModel.DataAnnotations;
using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Events;

/// <summary>Section <c>Events</c>.</summary>
public sealed class EventOptions : IValidatableObject
{
    public const string Section = "Events";

    [SettingRange(1, int.MaxValue, ErrorMessage = "Events:MaxAttempts must be positive.")]
    public int MaxAttempts { get; set; } = 15;

    public double RetryBaseDelaySeconds { get; set; } = 30;

    public double MaxRetryDelaySeconds { get; set; } = 6 * 3600;

    /// <summary>The longest one attempt (connect, send, answer) may take.</summary>
    [SettingRange(0d, 120d, MinimumIsExclusive = true, ErrorMessage = "Events:TimeoutSeconds must be more than 0 and at most 120.")]
    public double TimeoutSeconds { get; set; } = 10;

    /// <summary>
    /// The most of an endpoint's answer that is read (64 KiB; only its status matters). A longer answer is a failed
    /// attempt: endpoints are entered by merchants and the instance is shared.
    /// </summary>
    [SettingRange(1024, 16 * 1024 * 1024, ErrorMessage = "Events:MaxResponseBytes must be between 1024 and 16777216.")]
    public int MaxResponseBytes { get; set; } = 64 * 1024;

    /// <summary>Accept http:// endpoints and private addresses (sandbox and tests only; refused at start-up outside Development).</summary>
    public bool AllowInsecureEndpoints { get; set; }

    /// <summary>Attempts one run makes at once: an endpoint that never answers holds one of them for an attempt's timeout, not the run.</summary>
    [SettingRange(1, 64, ErrorMessage = "Events:Parallelism must be 1-64.")]
    public int Parallelism { get; set; } = 8;

    /// <summary>Events claimed at a time, taken in turns across shops (each shop's oldest first).</summary>
    [SettingRange(1, 1000, ErrorMessage = "Events:BatchSize must be 1-1000.")]
    public int BatchSize { get; set; } = 50;

    /// <summary>
    /// Attempts one shop gets in one run: a shop with a backlog, or an endpoint that never answers, takes this share at most
    /// and the next run goes on with it.
    /// </summary>
    [SettingRange(1, 1000, ErrorMessage = "Events:MaxPerShopPerRun must be 1-1000.")]
    public int MaxPerShopPerRun { get; set; } = 10;

    /// <summary>
    /// The longest a run lasts: it starts no attempt that could end later, and hands back what it claimed but did not start.
    /// Claims are leased for longer (<see cref="LeaseSeconds"/>), so an event is never claimed twice while a run has it.
    /// </summary>
    public double MaxRunSeconds { get; set; } = 50;

    /// <summary>How long claimed events stay hidden from other runs: the longest run and a margin for its writes.</summary>
    public double LeaseSeconds => MaxRunSeconds + 60;

    /// <summary>A run must have time for one attempt, and must not outlast what the schedule and the lease allow.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (!(MaxRunSeconds >= TimeoutSeconds && MaxRunSeconds <= 600))
        {
            yield return new ValidationResult(
                "Events:MaxRunSeconds must be at least Events:TimeoutSeconds (one attempt) and at most 600.", [nameof(MaxRunSeconds)]);
        }
    }
}

[OptionsValidator]
public sealed partial class EventOptionsValidator : IValidateOptions<EventOptions>;
