using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Loyalty.ShopifyApp.Features.PosSync;
using Microsoft.Extensions.Time.Testing;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// The wake-up after a row is queued: whatever the rhythm of notifications, each one is followed by a job that starts
/// after it (a job that started before the row committed cannot see it), as Hangfire really starts jobs: an enqueued job
/// at once, a scheduled one as early as the whole second its time falls in.
/// </summary>
public sealed class PosSyncTriggerTests
{
    /// <summary>Records the jobs the trigger creates, with the earliest moment Hangfire may start each.</summary>
    private sealed class RecordingJobs(FakeTimeProvider clock) : IBackgroundJobClient
    {
        public List<DateTimeOffset> EarliestStarts { get; } = [];

        public string Create(Job job, IState state)
        {
            var now = clock.GetUtcNow();
            EarliestStarts.Add(state switch
            {
                // Hangfire keeps the schedule in whole seconds: it enqueues the job once that second has begun.
                ScheduledState s => Truncate(now + TimeSpan.FromMilliseconds(Math.Round((s.EnqueueAt - DateTime.UtcNow).TotalMilliseconds))),
                _ => now,
            });
            return EarliestStarts.Count.ToString();
        }

        public bool ChangeState(string jobId, IState state, string expectedState) => true;

        private static DateTimeOffset Truncate(DateTimeOffset t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, t.Offset);
    }

    public static TheoryData<int[]> Rhythms => new()
    {
        new[] { 0, 100, 200 },                        // a burst inside the window
        new[] { 0, 240, 260, 490, 510, 760 },         // notifications straddling window edges
        new[] { 0, 50, 100, 150, 200, 250, 300, 350 }, // a steady stream
        new[] { 0, 1000, 1100, 1240, 5000, 5001 },
    };

    [Theory]
    [MemberData(nameof(Rhythms))]
    public void Every_notification_is_followed_by_a_job_that_starts_after_it(int[] offsetsMs)
    {
        // Every position within a second, since Hangfire's whole-second schedule is what can start a job early.
        for (var phase = 0; phase < 1000; phase += 25)
        {
            var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 8, 0, 0, TimeSpan.Zero).AddMilliseconds(phase));
            var jobs = new RecordingJobs(clock);
            var trigger = new PosSyncTrigger(jobs, clock);
            var start = clock.GetUtcNow();

            foreach (var offset in offsetsMs)
            {
                clock.SetUtcNow(start.AddMilliseconds(offset));
                trigger.Notify();
                var notified = clock.GetUtcNow();
                Assert.True(jobs.EarliestStarts.Any(s => s >= notified),
                    $"phase {phase} ms: the notification at +{offset} ms has no job that starts after it (earliest starts: " +
                    string.Join(", ", jobs.EarliestStarts.Select(s => $"+{(s - start).TotalMilliseconds} ms")) + ")");
            }
            Assert.True(jobs.EarliestStarts.Count <= offsetsMs.Length, "at most one job per notification");
        }
    }

    [Fact]
    public void A_burst_inside_the_window_costs_one_job_and_one_follow_up()
    {
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 8, 0, 0, TimeSpan.Zero));
        var jobs = new RecordingJobs(clock);
        var trigger = new PosSyncTrigger(jobs, clock);

        for (var i = 0; i < 100; i++)
        {
            trigger.Notify();
            clock.Advance(TimeSpan.FromMilliseconds(2));
        }

        Assert.Equal(2, jobs.EarliestStarts.Count);
    }
}
