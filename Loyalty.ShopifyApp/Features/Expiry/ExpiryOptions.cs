using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Expiry;

/// <summary>Section <c>Expiry</c>: the recurring expiry of points in shops whose points expire.</summary>
public sealed class ExpiryOptions
{
    public const string Section = "Expiry";

    /// <summary>Customers with something due read at a time (each is expired in a transaction of its own).</summary>
    [SettingRange(1, 10_000, ErrorMessage = "Expiry:BatchSize must be 1-10,000.")]
    public int BatchSize { get; set; } = 500;

    /// <summary>A stop for one run; the next run (and every customer's read meanwhile) takes the rest.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Expiry:MaxPerRun must be positive.")]
    public int MaxPerRun { get; set; } = 100_000;

    /// <summary>How long a customer's read (My Page, the admin customer view) waits for their balance before it leaves the expiry to
    /// the job or to the spend that follows, which expire under their own lock.</summary>
    [SettingRange(1, 60_000, ErrorMessage = "Expiry:ReadLockTimeoutMs must be 1-60,000.")]
    public int ReadLockTimeoutMs { get; set; } = 2000;

    /// <summary>The dashboard's "expiring soon": points that expire within this many days unless spent.</summary>
    [SettingRange(1, 365, ErrorMessage = "Expiry:ExpiringSoonDays must be 1-365.")]
    public int ExpiringSoonDays { get; set; } = 30;
}

[OptionsValidator]
public sealed partial class ExpiryOptionsValidator : IValidateOptions<ExpiryOptions>;
