using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Flow;

/// <summary>Section <c>Flow</c>: how queued Shopify Flow triggers are sent (<see cref="FlowDelivery"/>).</summary>
public sealed class FlowOptions
{
    public const string Section = "Flow";

    /// <summary>Triggers claimed at a time, taken in turns across shops (each shop's oldest first).</summary>
    [SettingRange(1, 1000, ErrorMessage = "Flow:BatchSize must be 1-1000.")]
    public int BatchSize { get; set; } = 50;

    /// <summary>Triggers one shop may send in one run, so one shop's burst does not hold back the others'.</summary>
    [SettingRange(1, 10_000, ErrorMessage = "Flow:MaxPerShopPerRun must be 1-10000.")]
    public int MaxPerShopPerRun { get; set; } = 50;

    /// <summary>A run claims no more once this much time has passed (a run is scheduled every 30 seconds).</summary>
    [SettingRange(1, 3600, ErrorMessage = "Flow:MaxRunSeconds must be 1-3600.")]
    public int MaxRunSeconds { get; set; } = 25;

    /// <summary>A claimed trigger is another run's to send again after this, should its sender die.</summary>
    [SettingRange(10, 3600, ErrorMessage = "Flow:LeaseSeconds must be 10-3600.")]
    public int LeaseSeconds { get; set; } = 120;

    /// <summary>The longest a send waits for the shop's Shopify cost bucket before it is tried again later.</summary>
    [SettingRange(0, 60, ErrorMessage = "Flow:MaxThrottleWaitSeconds must be 0-60.")]
    public int MaxThrottleWaitSeconds { get; set; } = 5;

    /// <summary>
    /// The longest one send may take (the throttle wait, Shopify's answer within the client's timeout and its retries): a send starts
    /// only when this much of the claim's lease is left, so a lease never runs out while its trigger is being sent.
    /// </summary>
    [SettingRange(1, 600, ErrorMessage = "Flow:SendSecondsAtMost must be 1-600.")]
    public int SendSecondsAtMost { get; set; } = 45;

    /// <summary>Sends of one trigger before it is given up as failed (Shopify out of reach, throttled, or erring).</summary>
    [SettingRange(1, 100, ErrorMessage = "Flow:MaxAttempts must be 1-100.")]
    public int MaxAttempts { get; set; } = 10;

    /// <summary>The wait after a failed send, doubled at each attempt up to <see cref="MaxRetryDelaySeconds"/>.</summary>
    [SettingRange(1, 3600, ErrorMessage = "Flow:RetryBaseDelaySeconds must be 1-3600.")]
    public int RetryBaseDelaySeconds { get; set; } = 30;

    [SettingRange(1, 86_400, ErrorMessage = "Flow:MaxRetryDelaySeconds must be 1-86400.")]
    public int MaxRetryDelaySeconds { get; set; } = 3600;
}

[OptionsValidator]
public sealed partial class FlowOptionsValidator : IValidateOptions<FlowOptions>;

/// <summary>A send must fit in a lease with room to spare, or no trigger would ever be sent.</summary>
public sealed class FlowLeaseCheck : IValidateOptions<FlowOptions>
{
    public ValidateOptionsResult Validate(string? name, FlowOptions o) => o.SendSecondsAtMost * 2 <= o.LeaseSeconds
        ? ValidateOptionsResult.Success
        : ValidateOptionsResult.Fail($"Flow:LeaseSeconds ({o.LeaseSeconds}) must be at least twice Flow:SendSecondsAtMost ({o.SendSecondsAtMost}).");
}
