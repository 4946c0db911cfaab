using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Loyalty.Tests.Infrastructure.Telemetry;

namespace Loyalty.Tests.Infrastructure.Jobs;

/// <summary>Hangfire job runs as an operator's dashboard shows them: counted and timed per job and outcome.</summary>
public sealed class JobRunMetricsTests
{
    private const string Succeeding = nameof(ProbeJob) + "." + nameof(ProbeJob.SucceedAsync);
    private const string Failing = nameof(ProbeJob) + "." + nameof(ProbeJob.Fail);

    [Fact]
    public async Task Each_job_run_is_counted_and_timed_under_its_job_and_outcome()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["Jobs:QueuePollIntervalMs"] = "200" });
        using var metrics = new AppMeasurements(app.Services);
        var jobs = app.Services.GetRequiredService<IBackgroundJobClient>();

        jobs.Enqueue<ProbeJob>(j => j.SucceedAsync(Guid.NewGuid()));
        jobs.Enqueue<ProbeJob>(j => j.Fail(Guid.NewGuid()));

        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(
                metrics.Values("loyalty.jobs.runs", ("job", Succeeding)).Count > 0
                    && metrics.Values("loyalty.jobs.runs", ("job", Failing)).Count > 0),
            "both probe jobs ran and were counted");
        Assert.Equal(1, metrics.Sum("loyalty.jobs.runs", ("job", Succeeding), ("outcome", JobRunMetrics.Success)));
        Assert.Equal(1, metrics.Sum("loyalty.jobs.runs", ("job", Failing), ("outcome", JobRunMetrics.Failure)));
        Assert.Empty(metrics.Values("loyalty.jobs.runs", ("job", Succeeding), ("outcome", JobRunMetrics.Failure)));
        Assert.Empty(metrics.Values("loyalty.jobs.runs", ("job", Failing), ("outcome", JobRunMetrics.Success)));
        Assert.InRange(Assert.Single(metrics.Values("loyalty.jobs.duration", ("job", Succeeding), ("outcome", JobRunMetrics.Success))), 0.25, 10);
        Assert.Single(metrics.Values("loyalty.jobs.duration", ("job", Failing), ("outcome", JobRunMetrics.Failure)));
    }
}

public sealed class JobRunTraceTests
{
    [Fact]
    public async Task Each_job_run_is_a_span_named_after_its_job_with_its_outcome()
    {
        var spans = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name == JobRunMetrics.ActivitySourceName,
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?> { ["Jobs:QueuePollIntervalMs"] = "200" });
        var jobs = app.Services.GetRequiredService<IBackgroundJobClient>();

        var (succeeding, failing) = (Guid.NewGuid(), Guid.NewGuid());
        var succeeded = jobs.Enqueue<ProbeJob>(j => j.SucceedAsync(succeeding));
        var failed = jobs.Enqueue<ProbeJob>(j => j.Fail(failing));

        // The listener hears every app of the test process, whose databases number their jobs alike: a span is this app's probe
        // run when it is the one the probe itself ran in.
        System.Diagnostics.Activity? Span(Guid token) =>
            ProbeJob.RanIn.TryGetValue(token, out var ran) ? spans.FirstOrDefault(a => a.SpanId == ran) : null;
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(Span(succeeding) is not null && Span(failing) is not null),
            "both probe jobs were traced");
        Assert.Equal(succeeded, (string?)Span(succeeding)!.GetTagItem("job.id"));
        Assert.Equal(failed, (string?)Span(failing)!.GetTagItem("job.id"));
        Assert.Equal("job ProbeJob.SucceedAsync", Span(succeeding)!.DisplayName);
        Assert.Equal(("success", System.Diagnostics.ActivityStatusCode.Unset),
            ((string?)Span(succeeding)!.GetTagItem("outcome"), Span(succeeding)!.Status));
        Assert.InRange(Span(succeeding)!.Duration.TotalSeconds, 0.25, 10);
        Assert.Equal(("failure", System.Diagnostics.ActivityStatusCode.Error),
            ((string?)Span(failing)!.GetTagItem("outcome"), Span(failing)!.Status));
    }
}

/// <summary>A job of the tests' own, run by the app's Hangfire server like any of the app's.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Enqueued as an instance job, as the app's own jobs are.")]
public sealed class ProbeJob
{
    /// <summary>The span each run (by the token it was given) ran in.</summary>
    public static System.Collections.Concurrent.ConcurrentDictionary<Guid, System.Diagnostics.ActivitySpanId> RanIn { get; } = new();

    [AutomaticRetry(Attempts = 0)]
    public Task SucceedAsync(Guid token)
    {
        RanIn[token] = System.Diagnostics.Activity.Current?.SpanId ?? default;
        return Task.Delay(TimeSpan.FromMilliseconds(300));
    }

    [AutomaticRetry(Attempts = 0)]
    public void Fail(Guid token)
    {
        RanIn[token] = System.Diagnostics.Activity.Current?.SpanId ?? default;
        throw new InvalidOperationException("The probe job fails on purpose.");
    }
}
