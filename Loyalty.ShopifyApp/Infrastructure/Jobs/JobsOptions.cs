using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>Section <c>Jobs</c>: the Hangfire server of this instance, its dashboard and recurring schedules.</summary>
public sealed class JobsOptions
{
    public const string Section = "Jobs";

    /// <summary>Run a Hangfire server (workers) in this instance. Any number of instances may.</summary>
    public bool ServerEnabled { get; set; } = true;

    [SettingRange(1, 100, ErrorMessage = "Jobs:WorkerCount must be 1-100.")]
    public int WorkerCount { get; set; } = 4;

    [SettingRange(1, int.MaxValue, ErrorMessage = "Jobs:QueuePollIntervalMs must be positive (milliseconds).")]
    public int QueuePollIntervalMs { get; set; } = 1000;

    /// <summary>How often scheduled jobs are checked for being due: a conversion woken when Shopify's API budget allows runs this late at
    /// most.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Jobs:SchedulePollIntervalMs must be positive (milliseconds).")]
    public int SchedulePollIntervalMs { get; set; } = 1000;

    /// <summary>Basic credentials for <c>/hangfire</c>; with none configured the dashboard refuses everyone.</summary>
    public string? DashboardUser { get; set; }

    public string? DashboardPassword { get; set; }

    /// <summary>Failed dashboard logins from one client address (an IPv6 /64) that lock it out for <see cref="DashboardLockoutSeconds"/>.</summary>
    [SettingRange(1, 1000, ErrorMessage = "Jobs:DashboardMaxFailedLogins must be 1-1000.")]
    public int DashboardMaxFailedLogins { get; set; } = 5;

    /// <summary>How long a locked-out address is refused, and how long a failed login is remembered.</summary>
    [SettingRange(1, 86_400, ErrorMessage = "Jobs:DashboardLockoutSeconds must be 1-86400.")]
    public int DashboardLockoutSeconds { get; set; } = 900;

    /// <summary>
    /// A job lock (recurring-job registration, <c>DisableConcurrentExecution</c>) older than this is taken as abandoned:
    /// an instance killed while holding one blocks the others no longer than this (Hangfire.PostgreSql's default is
    /// 10 minutes). Every job here is safe to run twice, so a long run that outlives its lock costs only work.
    /// </summary>
    [SettingRange(10, int.MaxValue, ErrorMessage = "Jobs:DistributedLockTimeoutSeconds must be at least 10.")]
    public int DistributedLockTimeoutSeconds { get; set; } = 120;

    /// <summary>
    /// A job taken from its queue by a worker that then died (its instance killed, or the database lost between taking the job
    /// and starting it) is taken again after this. A worker renews the jobs it runs every fifth of it, so a long job is not taken
    /// again while its instance reaches the database; one cut off for longer may see it run elsewhere meanwhile (every job here is
    /// safe to run twice). Hangfire.PostgreSql's default is half an hour.
    /// </summary>
    [SettingRange(60, 86_400, ErrorMessage = "Jobs:InvisibilityTimeoutSeconds must be 60-86400.")]
    public int InvisibilityTimeoutSeconds { get; set; } = 300;

    /// <summary>
    /// Recurring schedules (cron, UTC) by job id, over the defaults each feature registers its jobs with
    /// (<see cref="JobsExtensions.AddRecurringJob{T}"/>). Empty disables one.
    /// </summary>
    public Dictionary<string, string> Schedules { get; set; } = new();
}

[OptionsValidator]
public sealed partial class JobsOptionsValidator : IValidateOptions<JobsOptions>;
