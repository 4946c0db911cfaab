using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>Section <c>PosSync</c>: delivery of the POS outbox (<see cref="PosSyncJob"/>).</summary>
public sealed class PosSyncOptions
{
    public const string Section = "PosSync";

    /// <summary>Attempts before a row is parked for the merchant (about a day with the default back-off).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "PosSync:MaxAttempts must be positive.")]
    public int MaxAttempts { get; set; } = 40;

    [SettingRange(typeof(double), "0", "Infinity", ErrorMessage = "PosSync:RetryBaseDelaySeconds must be 0 or more.")] // no upper bound, as before
    public double RetryBaseDelaySeconds { get; set; } = 10;

    public double MaxRetryDelaySeconds { get; set; } = 3600;

    [SettingRange(1, int.MaxValue, ErrorMessage = "PosSync:BatchSize must be positive.")]
    public int BatchSize { get; set; } = 50;

    /// <summary>Shops whose rows of a claimed batch are sent at once (each shop's in order): a slow POS holds back only its own shop.</summary>
    [SettingRange(1, 64, ErrorMessage = "PosSync:Parallelism must be 1-64.")]
    public int Parallelism { get; set; } = 8;

    /// <summary>How long a claimed row is hidden from other workers while its POS call runs.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "PosSync:LeaseSeconds must be positive.")]
    public int LeaseSeconds { get; set; } = 120;
}

[OptionsValidator]
public sealed partial class PosSyncOptionsValidator : IValidateOptions<PosSyncOptions>;
