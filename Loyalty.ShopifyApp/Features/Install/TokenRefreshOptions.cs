using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Install;

/// <summary>Section <c>TokenRefresh</c>: the <see cref="TokenRefresh"/> job, which refreshes expiring access tokens ahead of time.</summary>
public sealed class TokenRefreshOptions
{
    public const string Section = "TokenRefresh";

    /// <summary>
    /// Each run schedules one refresh per shop whose token is due, spread evenly over this many seconds (0: all at once). Keep it
    /// below the run's interval (5 minutes by default, <c>Jobs:Schedules:token-refresh</c>): start-up checks it.
    /// </summary>
    [SettingRange(0, 3600, ErrorMessage = "TokenRefresh:SpreadSeconds must be 0-3600.")]
    public int SpreadSeconds { get; set; } = 240;

    /// <summary>
    /// Added to a run's horizon for lateness: of the next run, or of a refresh job waiting for a free worker. A token is due when it
    /// expires before the next run's refreshes are over (its start + the spread), plus <c>Shopify:RefreshBeforeExpirySeconds</c> and this.
    /// </summary>
    [SettingRange(0, 3600, ErrorMessage = "TokenRefresh:MarginSeconds must be 0-3600.")]
    public int MarginSeconds { get; set; } = 60;

    /// <summary>
    /// Each shop's token is refreshed up to this many seconds earlier than needed, by a fixed share drawn from the shop's name, so tokens
    /// granted together drift apart instead of all being refreshed in the same run every hour (0: each exactly when due). It costs a
    /// few more refreshes: with the hour's tokens and the default, about 8 % more.
    /// </summary>
    [SettingRange(0, 3600, ErrorMessage = "TokenRefresh:EarlySeconds must be 0-3600.")]
    public int EarlySeconds { get; set; } = 600;
}

[OptionsValidator]
public sealed partial class TokenRefreshOptionsValidator : IValidateOptions<TokenRefreshOptions>;
