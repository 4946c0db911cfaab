using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Pending;

/// <summary>Section <c>Pending</c>: the recurring release of pending points whose period is over.</summary>
public sealed class PendingOptions
{
    public const string Section = "Pending";

    /// <summary>Due orders read at a time (each is released in a transaction of its own); a run goes on until none is due.</summary>
    [SettingRange(1, 10_000, ErrorMessage = "Pending:BatchSize must be 1-10,000.")]
    public int BatchSize { get; set; } = 200;

    /// <summary>A stop for one run; what is left is released by the next run (and by any customer's read meanwhile).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Pending:MaxPerRun must be positive.")]
    public int MaxPerRun { get; set; } = 50_000;
}

[OptionsValidator]
public sealed partial class PendingOptionsValidator : IValidateOptions<PendingOptions>;
