using Dapper;
using Hangfire;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Points;

namespace Loyalty.Tests.Infrastructure.Jobs;

/// <summary>
/// Per-shop sweeps fan out (<see cref="ShopFanOut"/>): one job per installed shop, spread over the sweep's setting, which any
/// instance's job worker runs; a shop is swept by one job at a time. The jobs are read from Hangfire's own storage.
/// </summary>
public sealed class ShopFanOutTests(ShopFanOutTests.SpreadApp app) : AppTests<ShopFanOutTests.SpreadApp>(app)
{
    /// <summary>No job server here: the scheduled sweeps stay in storage to be looked at.</summary>
    public sealed class SpreadApp() : AppFixture(new() { ["Jobs:ServerEnabled"] = "false", ["OrderSweep:SpreadSeconds"] = "600" });

    private MissedOrderSweep Sweep => App.Services.GetRequiredService<MissedOrderSweep>();

    /// <summary>The sweeps of <typeparamref name="T"/> scheduled since <paramref name="since"/>, and when each is due.</summary>
    private List<(string Shop, DateTime EnqueueAt)> ScheduledSince<T>(DateTime since) =>
        [.. App.Services.GetRequiredService<JobStorage>().GetMonitoringApi().ScheduledJobs(0, 10_000)
            .Where(j => j.Value.Job.Type == typeof(T) && j.Value.Job.Method.Name == "SweepOneAsync" && j.Value.ScheduledAt >= since.AddSeconds(-1))
            .Select(j => ((string)j.Value.Job.Args[0], j.Value.EnqueueAt))];

    /// <summary>Forgets which sweeps this class's earlier tests scheduled, so every installed shop is due one again.</summary>
    private Task NoSweepWaitingAsync() => App.ScalarAsync<long>("WITH d AS (DELETE FROM shop_job_runs RETURNING 1) SELECT count(*) FROM d");

    [Fact]
    public async Task The_recurring_run_schedules_one_sweep_per_installed_shop_spread_evenly_over_the_setting()
    {
        var others = new[] { LoyaltyApp.NewShop(), LoyaltyApp.NewShop() };
        foreach (var shop in others) await App.InstallAsync(Shopify, shop);
        var uninstalled = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, uninstalled);
        await App.ScalarAsync<int>("UPDATE shops SET state = 'uninstalled' WHERE shop_domain = @shop RETURNING 1", new { shop = uninstalled });
        var installed = await App.ScalarAsync<long>("SELECT count(*) FROM shops WHERE state = 'installed'");
        await NoSweepWaitingAsync();
        var started = DateTime.UtcNow;

        await Sweep.SweepAllAsync(default);

        var sweeps = ScheduledSince<MissedOrderSweep>(started);
        Assert.Equal(installed, sweeps.Count);
        Assert.Equal(sweeps.Count, sweeps.Select(s => s.Shop).Distinct().Count());
        Assert.Contains(sweeps, s => s.Shop == Shop);
        Assert.DoesNotContain(sweeps, s => s.Shop == uninstalled);
        // Evenly apart over ten minutes: the n-th of N shops at n × 600 / N seconds.
        var offsets = sweeps.Select(s => (s.EnqueueAt - started).TotalSeconds).Order().ToList();
        for (var n = 0; n < offsets.Count; n++) Assert.InRange(offsets[n], 600.0 * n / offsets.Count - 5, 600.0 * n / offsets.Count + 30);
    }

    [Fact]
    public async Task A_pass_slowed_by_a_busy_database_still_spreads_its_shops_from_when_it_began()
    {
        foreach (var shop in new[] { LoyaltyApp.NewShop(), LoyaltyApp.NewShop() }) await App.InstallAsync(Shopify, shop);
        await NoSweepWaitingAsync();
        await using var busy = await App.Db.OpenConnectionAsync();
        await using var hold = await busy.BeginTransactionAsync();
        // Hangfire's writes wait 6 s (reads go on), as under a database too busy to take them.
        await busy.ExecuteAsync("LOCK TABLE hangfire.job IN EXCLUSIVE MODE", transaction: hold);
        var started = DateTime.UtcNow;

        // On a thread of its own: Hangfire's client writes synchronously, and a pass whose reads all completed at once would otherwise
        // block this test's thread in its first job's write, waiting for the lock this thread is to let go (CI saw it time out).
        var pass = Task.Run(() => Sweep.SweepAllAsync(default));
        await Task.Delay(TimeSpan.FromSeconds(6));
        await hold.RollbackAsync();
        await pass;

        // The n-th of N due n × 600 / N seconds after the pass began. Before the fix each was due that long after it was scheduled,
        // so all came 6 s late, and a pass slower than the gap to the next one pushed its last shops past it. (The first shop's job may
        // be stamped as scheduled before its write waited for the lock, and so fall outside the filter below.)
        var shops = await App.ScalarAsync<long>("SELECT count(*) FROM shop_job_runs WHERE work = @work", new { work = MissedOrderSweep.Work });
        var slot = 600.0 / shops;
        // Only this pass's jobs: none could be written before the lock was let go (earlier tests' passes ended just before it began).
        var offsets = ScheduledSince<MissedOrderSweep>(started.AddSeconds(5)).Select(s => (s.EnqueueAt - started).TotalSeconds).ToList();
        Assert.InRange(offsets.Count, shops - 1, shops);
        Assert.All(offsets, o => Assert.InRange(o - slot * Math.Round(o / slot), -2, 2));
    }

    [Fact]
    public async Task A_pass_that_finds_another_pass_of_the_same_work_scheduling_schedules_nothing()
    {
        await NoSweepWaitingAsync();
        var before = ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch).Count;
        await using var otherPass = new Npgsql.NpgsqlConnection(App.ConnectionString); // another instance's session, not the app's pool
        await otherPass.OpenAsync();
        // Another instance's pass is under way: its shops are inserted, their job ids not yet written, so they look gone.
        await otherPass.ExecuteAsync("SELECT pg_advisory_lock(hashtextextended(@key, 0))", new { key = $"fan-out:{MissedOrderSweep.Work}" });
        await otherPass.ExecuteAsync("""
            INSERT INTO shop_job_runs (work, shop_domain, scheduled_at) SELECT @work, shop_domain, now() FROM shops WHERE state = 'installed'
            """, new { work = MissedOrderSweep.Work });

        await Sweep.SweepAllAsync(default);

        // Before the fix: every installed shop scheduled a second time.
        Assert.Equal(before, ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch).Count);
        Assert.Contains("another pass still holds the scheduling lock, so this pass scheduled nothing", App.Log.Tail(contains: "scheduling lock"));
        await otherPass.ExecuteAsync("SELECT pg_advisory_unlock_all()");
        await NoSweepWaitingAsync();
        await Sweep.SweepAllAsync(default); // the lock released, a pass schedules again
        Assert.True(ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch).Count > before);
    }

    [Fact]
    public async Task The_orphan_coupon_sweep_schedules_one_sweep_per_installed_shop_over_its_own_half_hour()
    {
        foreach (var shop in new[] { LoyaltyApp.NewShop(), LoyaltyApp.NewShop(), LoyaltyApp.NewShop() }) await App.InstallAsync(Shopify, shop);
        var installed = await App.ScalarAsync<long>("SELECT count(*) FROM shops WHERE state = 'installed'");
        await NoSweepWaitingAsync();
        var started = DateTime.UtcNow;

        await App.Services.GetRequiredService<OrphanCouponSweep>().SweepAllAsync(default);

        var sweeps = ScheduledSince<OrphanCouponSweep>(started);
        Assert.Equal(installed, sweeps.Count);
        Assert.Contains(sweeps, s => s.Shop == Shop);
        var last = sweeps.Max(s => s.EnqueueAt) - started;
        Assert.InRange(last.TotalSeconds, 1800.0 * (sweeps.Count - 1) / sweeps.Count - 5, 1800);
    }

    [Fact]
    public async Task A_shop_whose_sweep_failed_or_was_deleted_before_it_started_is_scheduled_again_at_the_next_run()
    {
        await Sweep.SweepAllAsync(default); // every installed shop has a sweep waiting now
        var jobId = await App.ScalarAsync<string>("SELECT job_id FROM shop_job_runs WHERE work = @work AND shop_domain = @shop",
            new { work = MissedOrderSweep.Work, shop = Shop });
        var waiting = ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch);

        // Its job is gone before it started (the database was down as it began, and failed jobs of the fan-out are deleted).
        Assert.True(App.Services.GetRequiredService<IBackgroundJobClient>().Delete(jobId));
        await Sweep.SweepAllAsync(default);

        // Rescheduled now, not an hour past its spread (the old rule); the others, still waiting, are not.
        Assert.Equal([Shop], ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch).Except(waiting).Select(s => s.Shop));
    }

    [Fact]
    public async Task A_shop_whose_sweep_lost_its_worker_before_it_started_is_scheduled_again_after_a_minute()
    {
        await Sweep.SweepAllAsync(default);
        const string Runs = "SELECT job_id FROM shop_job_runs WHERE work = @work AND shop_domain = @shop";
        var jobId = await App.ScalarAsync<string>(Runs, new { work = MissedOrderSweep.Work, shop = Shop });
        // A worker took the job and its instance was killed before the sweep began: Hangfire still says Processing.
        Assert.True(App.Services.GetRequiredService<IBackgroundJobClient>().ChangeState(jobId,
            new TakenByWorker()));

        await Sweep.SweepAllAsync(default);
        Assert.Equal(jobId, await App.ScalarAsync<string>(Runs, new { work = MissedOrderSweep.Work, shop = Shop })); // 30 s in: it may yet start

        await App.ScalarAsync<int>("UPDATE hangfire.state SET createdat = createdat - interval '2 minutes' WHERE jobid = @id::bigint",
            new { id = jobId });
        await Sweep.SweepAllAsync(default);
        Assert.NotEqual(jobId, await App.ScalarAsync<string>(Runs, new { work = MissedOrderSweep.Work, shop = Shop })); // scheduled again
    }


    [Fact]
    public async Task A_shop_whose_sweep_was_taken_from_its_queue_by_a_worker_that_died_is_scheduled_again_after_a_minute()
    {
        await Sweep.SweepAllAsync(default);
        const string Runs = "SELECT job_id FROM shop_job_runs WHERE work = @work AND shop_domain = @shop";
        var jobId = await App.ScalarAsync<string>(Runs, new { work = MissedOrderSweep.Work, shop = Shop });
        // Due and enqueued; a worker took it from the queue and died (or lost the database) before it turned Processing:
        // Hangfire still says Enqueued, and would hand it out again only after its invisibility timeout.
        Assert.True(App.Services.GetRequiredService<IBackgroundJobClient>().Requeue(jobId));
        const string Take = "UPDATE hangfire.jobqueue SET fetchedat = now() - make_interval(secs => @ago) WHERE jobid = @id::bigint RETURNING 1";
        await App.ScalarAsync<int>(Take, new { id = jobId, ago = 20 });

        await Sweep.SweepAllAsync(default);
        Assert.Equal(jobId, await App.ScalarAsync<string>(Runs, new { work = MissedOrderSweep.Work, shop = Shop })); // 20 s in: it may yet start

        await App.ScalarAsync<int>(Take, new { id = jobId, ago = 120 });
        await Sweep.SweepAllAsync(default);
        Assert.NotEqual(jobId, await App.ScalarAsync<string>(Runs, new { work = MissedOrderSweep.Work, shop = Shop })); // scheduled again
        // ... and the lost one is deleted: Hangfire would hand it out again after its invisibility timeout, and the work would run twice.
        Assert.Equal(Hangfire.States.DeletedState.StateName,
            App.Services.GetRequiredService<JobStorage>().GetConnection().GetStateData(jobId)?.Name);
    }
    [Fact]
    public async Task A_shops_sweep_is_not_scheduled_again_while_the_previous_one_has_not_started_and_is_once_it_ran()
    {
        await Sweep.SweepAllAsync(default); // every installed shop has a sweep waiting now
        var waiting = ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch);

        await Sweep.SweepAllAsync(default);
        Assert.Empty(ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch).Except(waiting));

        Shopify.ResetMappings(Shop); // its job runs, and fails: Shopify is out of reach (recorded in order_sweeps)
        await Sweep.SweepOneAsync(Shop, default);
        await Sweep.SweepAllAsync(default);
        Assert.Equal([Shop], ScheduledSince<MissedOrderSweep>(DateTime.UnixEpoch).Except(waiting).Select(s => s.Shop));
        Assert.Equal(1L, await App.ScalarAsync<long>(
            "SELECT count(*) FROM shop_job_runs WHERE work = @work AND shop_domain = @shop AND finished_at >= started_at",
            new { work = MissedOrderSweep.Work, shop = Shop }));
    }

    [Fact]
    public async Task A_sweep_releases_its_shop_when_done_and_a_shop_uninstalled_before_its_job_ran_is_not_swept()
    {
        Shopify.ResetMappings(Shop);
        await Sweep.SweepOneAsync(Shop, default);
        await using (var probe = new Npgsql.NpgsqlConnection(App.ConnectionString))
        {
            await probe.OpenAsync();
            Assert.True(await Dapper.SqlMapper.ExecuteScalarAsync<bool>(probe, "SELECT pg_try_advisory_lock(hashtextextended(@key, 0))",
                new { key = ShopFanOut.LockKey(MissedOrderSweep.Work, Shop) }));
        }

        var gone = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, gone);
        await App.ScalarAsync<int>("UPDATE shops SET state = 'uninstalled' WHERE shop_domain = @shop RETURNING 1", new { shop = gone });
        await Sweep.SweepOneAsync(gone, default);
        Assert.Empty(Shopify.OperationBodies(gone, "PaidOrders"));
    }

    [Fact]
    public async Task A_shop_being_swept_elsewhere_is_not_swept_again_at_the_same_time()
    {
        await using var elsewhere = new Npgsql.NpgsqlConnection(App.ConnectionString);
        await elsewhere.OpenAsync();
        Assert.True(await Dapper.SqlMapper.ExecuteScalarAsync<bool>(elsewhere, "SELECT pg_try_advisory_lock(hashtextextended(@key, 0))",
            new { key = ShopFanOut.LockKey(MissedOrderSweep.Work, Shop) }));

        await Sweep.SweepOneAsync(Shop, default);

        Assert.Empty(Shopify.OperationBodies(Shop, "PaidOrders"));
        Assert.Null(await App.ScalarAsync<DateTime?>("SELECT last_run_at FROM order_sweeps WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task A_scheduled_sweep_that_cannot_reach_Shopify_records_why_for_the_next_run()
    {
        Shopify.ResetMappings(Shop); // no token, no answer: the shop's Admin API is out of reach

        await Sweep.SweepOneAsync(Shop, default);

        Assert.NotNull(await App.ScalarAsync<string?>("SELECT last_error FROM order_sweeps WHERE shop_domain = @shop", new { shop = Shop }));
    }
}

/// <summary>Hangfire's Processing state, as a worker that took the job records it (its own type cannot be made outside Hangfire).</summary>
internal sealed class TakenByWorker : Hangfire.States.IState
{
    public string Name => Hangfire.States.ProcessingState.StateName;

    public string Reason => "taken by a worker of an instance that was then killed";

    public bool IsFinal => false;

    public bool IgnoreJobLoadException => false;

    public Dictionary<string, string> SerializeData() => new()
    {
        ["StartedAt"] = Hangfire.Common.JobHelper.SerializeDateTime(DateTime.UtcNow), ["ServerId"] = "killed-instance", ["WorkerId"] = "1",
    };
}

/// <summary>The fanned-out sweeps run on the job workers and award what they find.</summary>
public sealed class MissedOrderSweepWorkerTests(MissedOrderSweepWorkerTests.WorkerApp app) : AppTests<MissedOrderSweepWorkerTests.WorkerApp>(app)
{
    public sealed class WorkerApp() : AppFixture(new()
    {
        ["OrderSweep:SpreadSeconds"] = "0", ["Jobs:SchedulePollIntervalMs"] = "100", ["Jobs:QueuePollIntervalMs"] = "100",
    });

    [Fact]
    public async Task Each_shops_sweep_runs_as_a_job_of_its_own_and_awards_the_order_whose_webhook_never_came()
    {
        Shopify.Server.Given(WireMock.RequestBuilders.Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
                .WithBody(new WireMock.Matchers.WildcardMatcher("*PaidOrders*")))
            .AtPriority(1).RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { orders = new { pageInfo = new { hasNextPage = false, endCursor = "c1" }, nodes = new[] { new
                {
                    transactions = Array.Empty<object>(), updatedAt = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
                    legacyResourceId = "9101", name = "#9101", test = false, cancelledAt = (string?)null, processedAt = (string?)null,
                    customer = new { legacyResourceId = "777" },
                    subtotalPriceSet = new { shopMoney = new { amount = "30.00", currencyCode = "EUR" } },
                    totalPriceSet = new { shopMoney = new { amount = "30.00", currencyCode = "EUR" },
                        presentmentMoney = new { amount = "30.00", currencyCode = "EUR" } },
                } } } },
            }));

        await App.Services.GetRequiredService<MissedOrderSweep>().SweepAllAsync(default);

        await LoyaltyApp.WaitUntilAsync(async () => await App.BalanceAsync(Shop, 777) == 30, "the swept order awarded by a job");
        Assert.Equal("sweep", await App.ScalarAsync<string>("SELECT source FROM order_earnings WHERE shop_domain = @shop AND order_id = 9101",
            new { shop = Shop }));
    }
}
