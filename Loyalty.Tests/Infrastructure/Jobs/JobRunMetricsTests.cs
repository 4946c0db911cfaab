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

        jobs.Enqueue<ProbeJob>(j => j.SucceedAsync());
        jobs.Enqueue<ProbeJob>(j => j.Fail());

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

        var succeeded = jobs.Enqueue<ProbeJob>(j => j.SucceedAsync());
        var failed = jobs.Enqueue<ProbeJob>(j => j.Fail());

        System.Diagnostics.Activity? Span(string id) => spans.FirstOrDefault(a => (string?)a.GetTagItem("job.id") == id);
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(Span(succeeded) is not null && Span(failed) is not null),
            "both probe jobs were traced");
        Assert.Equal("job ProbeJob.SucceedAsync", Span(succeeded)!.DisplayName);
        Assert.Equal(("success", System.Diagnostics.ActivityStatusCode.Unset),
            ((string?)Span(succeeded)!.GetTagItem("outcome"), Span(succeeded)!.Status));
        Assert.InRange(Span(succeeded)!.Duration.TotalSeconds, 0.25, 10);
        Assert.Equal(("failure", System.Diagnostics.ActivityStatusCode.Error), ((string?)Span(failed)!.GetTagItem("outcome"), Span(failed)!.Status));
    }
}

/// <summary>A job of the tests' own, run by the app's Hangfire server like any of the app's.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Enqueued as an instance job, as the app's own jobs are.")]
public sealed class ProbeJob
{
    [AutomaticRetry(Attempts = 0)]
    public Task SucceedAsync() => Task.Delay(TimeSpan.FromMilliseconds(300));

    [AutomaticRetry(Attempts = 0)]
    public void Fail() => throw new InvalidOperationException("The probe job fails on purpose.");
}
