using Cronos;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>A fanned-out recurring job's spread (<see cref="ShopFanOut"/>) and the setting that holds it.</summary>
public sealed record FanOutSpread(string JobId, string Setting, Func<IServiceProvider, TimeSpan> Spread);

/// <summary>
/// Start-up check: every fanned-out job's spread is shorter than the shortest interval of its schedule (<c>Jobs:Schedules:{id}</c>, or
/// its default), or one pass's shops would still be waiting their turn when the next pass schedules them again. Fails start-up with a
/// sentence naming both settings; a disabled schedule is not checked.
/// </summary>
public sealed class FanOutSpreadCheck(IServiceProvider services, IEnumerable<FanOutSpread> spreads, IEnumerable<RecurringJobDefinition> jobs)
    : IValidateOptions<JobsOptions>
{
    public ValidateOptionsResult Validate(string? name, JobsOptions options)
    {
        var failures = new List<string>();
        foreach (var spread in spreads)
        {
            var cron = options.Schedules.TryGetValue(spread.JobId, out var configured) ? configured
                : jobs.FirstOrDefault(j => j.Id == spread.JobId)?.DefaultCron;
            if (string.IsNullOrWhiteSpace(cron) || ShortestInterval(cron) is not { } interval) continue; // disabled, or refused elsewhere
            var value = spread.Spread(services);
            if (value >= interval)
            {
                failures.Add($"{spread.Setting} spreads each pass of {spread.JobId} over {value.TotalSeconds:0} s, but its schedule '{cron}' "
                             + $"(Jobs:Schedules:{spread.JobId}) starts a pass every {interval.TotalSeconds:0} s: make {spread.Setting} shorter "
                             + "than that, or the schedule longer.");
            }
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>The shortest gap between two runs of <paramref name="cron"/> (five fields, or six with seconds) over a week; null: unparsable.
    /// </summary>
    public static TimeSpan? ShortestInterval(string cron)
    {
        if (Parse(cron) is not { } expression) return null;
        var from = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        TimeSpan? shortest = null;
        var previous = expression.GetNextOccurrence(from);
        for (var i = 0; i < 20_000 && previous is { } at && at < from.AddDays(8); i++)
        {
            var next = expression.GetNextOccurrence(at);
            if (next is null) break;
            var gap = next.Value - at;
            if (shortest is null || gap < shortest) shortest = gap;
            previous = next;
        }
        return shortest;
    }

    /// <summary>When <paramref name="cron"/> (UTC, as Hangfire runs it) next fires after <paramref name="after"/>; null: unparsable.</summary>
    public static DateTimeOffset? NextRun(string cron, DateTimeOffset after) => Parse(cron)?.GetNextOccurrence(after, TimeZoneInfo.Utc);

    /// <summary>Five fields, or six with seconds (Hangfire's formats); null: unparsable.</summary>
    private static CronExpression? Parse(string cron)
    {
        try
        {
            return CronExpression.Parse(cron.Trim(), cron.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries).Length == 6
                ? CronFormat.IncludeSeconds
                : CronFormat.Standard);
        }
        catch (CronFormatException)
        {
            return null;
        }
    }
}

public static class FanOutSpreadExtensions
{
    /// <summary>Declares a fanned-out job's spread, checked against its schedule at start-up (<see cref="FanOutSpreadCheck"/>).</summary>
    public static IServiceCollection AddFanOutSpread(this IServiceCollection services, string jobId, string setting,
        Func<IServiceProvider, TimeSpan> spread) =>
        services.AddSingleton(new FanOutSpread(jobId, setting, spread));
}
