using Loyalty.ShopifyApp.Infrastructure.Configuration;
using Loyalty.ShopifyApp.Infrastructure.Jobs;

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
    /// few more refreshes: with the hour's tokens and the default, about 12 % more.
    /// </summary>
    [SettingRange(0, 3600, ErrorMessage = "TokenRefresh:EarlySeconds must be 0-3600.")]
    public int EarlySeconds { get; set; } = 600;
}

[OptionsValidator]
public sealed partial class TokenRefreshOptionsValidator : IValidateOptions<TokenRefreshOptions>;

/// <summary>
/// Start-up check: a token refreshed now must not be due again at the next run, or every run refreshes every token (a rotation per shop
/// every few minutes). It is due when it expires within the next run's interval + <c>SpreadSeconds</c> +
/// <c>Shopify:RefreshBeforeExpirySeconds</c> + <c>MarginSeconds</c> + up to <c>EarlySeconds</c>, and Shopify's access tokens live an hour.
/// A disabled schedule is not checked. It validates the jobs' options (which hold the schedule), as <see cref="FanOutSpreadCheck"/> does,
/// since the spread check already reads these options while the jobs' options are made.
/// </summary>
public sealed class TokenRefreshHorizonCheck(IOptions<TokenRefreshOptions> refresh, IOptions<ShopifyOptions> shopify) : IValidateOptions<JobsOptions>
{
    private const int TokenLifeSeconds = 3600;

    public ValidateOptionsResult Validate(string? name, JobsOptions jobs)
    {
        var options = refresh.Value;
        var cron = jobs.Schedules.TryGetValue(TokenRefresh.RecurringId, out var configured) ? configured : TokenRefresh.DefaultCron;
        if (string.IsNullOrWhiteSpace(cron) || FanOutSpreadCheck.ShortestInterval(cron) is not { } interval) return ValidateOptionsResult.Success;
        var dueAgainWithin = 2 * interval.TotalSeconds + options.SpreadSeconds + shopify.Value.RefreshBeforeExpirySeconds + options.MarginSeconds
                             + options.EarlySeconds;
        return dueAgainWithin < TokenLifeSeconds ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(
            $"TokenRefresh: a token refreshed now would be due again at the next run, so every run would refresh every token: twice the "
            + $"schedule's interval ({interval.TotalSeconds:0} s, Jobs:Schedules:{TokenRefresh.RecurringId}) + TokenRefresh:SpreadSeconds "
            + $"({options.SpreadSeconds}) + Shopify:RefreshBeforeExpirySeconds ({shopify.Value.RefreshBeforeExpirySeconds}) + "
            + $"TokenRefresh:MarginSeconds ({options.MarginSeconds}) + TokenRefresh:EarlySeconds ({options.EarlySeconds}) is "
            + $"{dueAgainWithin:0} s, not under the {TokenLifeSeconds} s an access token lives. Lower EarlySeconds first.");
    }
}
