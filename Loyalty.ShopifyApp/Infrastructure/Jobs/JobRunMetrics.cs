using System.Diagnostics;
using System.Diagnostics.Metrics;
using Hangfire.Common;
using Hangfire.Server;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// Every Hangfire job this instance's server runs, on the app's <c>Meter("Loyalty")</c>: counted and timed by job
/// (<c>Type.Method</c>, a handful fixed by the code) and outcome (<c>success</c>, <c>failure</c>, or <c>cancelled</c>
/// when the server stops it), and traced: each run is a span <c>job {Type.Method}</c> on <see cref="ActivitySourceName"/>,
/// the parent of the database and HTTP spans the job makes. A filter of this host's (<see cref="HostJobFilters"/>), not of Hangfire's process-wide
/// list, so hosts sharing a process each count their own runs.
/// </summary>
public sealed class JobRunMetrics : IServerFilter
{
    public const string Success = "success";
    public const string Failure = "failure";
    public const string Cancelled = "cancelled";

    /// <summary>The ActivitySource of job runs, exported with the app's traces.</summary>
    public const string ActivitySourceName = "Loyalty.Jobs";

    private const string StartedAt = "Loyalty.JobStartedAt";
    private const string Span = "Loyalty.JobActivity";

    private static readonly ActivitySource Source = new(ActivitySourceName);

    private readonly TimeProvider _clock;
    private readonly Counter<long> _runs;
    private readonly Histogram<double> _duration;

    public JobRunMetrics(IMeterFactory meters, TimeProvider clock)
    {
        _clock = clock;
        var meter = meters.Create(LoyaltyMetrics.MeterName);
        _runs = meter.CreateCounter<long>("loyalty.jobs.runs", "{run}", "Hangfire job runs by job and outcome (success, failure, cancelled)");
        _duration = meter.CreateHistogram<double>("loyalty.jobs.duration", "s", "How long Hangfire job runs took, by job and outcome");
    }

    public static string NameOf(Job job) => $"{job.Type.Name}.{job.Method.Name}";

    public void OnPerforming(PerformingContext context)
    {
        context.Items[StartedAt] = _clock.GetTimestamp();
        // Hangfire performs the job between these two calls on this same flow, so the span is Activity.Current meanwhile.
        var name = NameOf(context.BackgroundJob.Job);
        if (Source.StartActivity("job " + name, ActivityKind.Internal) is { } activity)
        {
            activity.SetTag("job", name);
            activity.SetTag("job.id", context.BackgroundJob.Id);
            context.Items[Span] = activity;
        }
    }

    public void OnPerformed(PerformedContext context)
    {
        var outcome = context.Exception switch
        {
            null => Success,
            OperationCanceledException => Cancelled, // the server is stopping (Hangfire's JobAbortedException is one too)
            _ => Failure,
        };
        var tags = new TagList { { "job", NameOf(context.BackgroundJob.Job) }, { "outcome", outcome } };
        _runs.Add(1, tags);
        if (context.Items.TryGetValue(StartedAt, out var started) && started is long at)
        {
            _duration.Record(_clock.GetElapsedTime(at).TotalSeconds, tags);
        }
        if (context.Items.TryGetValue(Span, out var span) && span is Activity activity)
        {
            activity.SetTag("outcome", outcome);
            if (outcome == Failure) activity.SetStatus(ActivityStatusCode.Error, context.Exception!.GetType().Name);
            activity.Stop();
        }
    }
}

/// <summary>This host's job filters, beside Hangfire's process-wide ones (attributes, <c>GlobalJobFilters</c>).</summary>
internal sealed class HostJobFilters(JobRunMetrics metrics) : IJobFilterProvider
{
    public IEnumerable<JobFilter> GetFilters(Job job) => [new JobFilter(metrics, JobFilterScope.Global, null)];
}
