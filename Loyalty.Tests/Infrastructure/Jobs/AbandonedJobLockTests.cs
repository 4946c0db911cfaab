namespace Loyalty.Tests.Infrastructure.Jobs;

/// <summary>
/// An instance killed while it held a Hangfire job lock (found by the soak: SIGKILL during a recurring job's
/// registration or a DisableConcurrentExecution job). Before the fix the next instance died at start-up (exit 134)
/// waiting for the lock, and the locked job stalled for Hangfire.PostgreSql's 10-minute default.
/// </summary>
public sealed class AbandonedJobLockTests
{
    [Fact]
    public async Task An_instance_starts_beside_a_lock_a_killed_one_left_and_registers_the_job_once_the_lock_is_abandoned()
    {
        using var shopify = new ShopifyFake();
        await using var first = await LoyaltyApp.StartAsync(shopify);
        // What the killed instance left: the registration lock of the pos-sync recurring job, just taken.
        await first.ScalarAsync<int>(
            "INSERT INTO hangfire.lock (resource, updatecount, acquired) VALUES ('hangfire:lock:recurring-job:pos-sync', 0, now())");

        await using var second = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Jobs:DistributedLockTimeoutSeconds"] = "10",
            ["Jobs:Schedules:pos-sync"] = "*/5 * * * *", // a new schedule, so its registration can be seen
        }, connectionString: first.ConnectionString);

        await LoyaltyApp.WaitUntilAsync(async () => await second.ScalarAsync<string>(
                "SELECT value FROM hangfire.hash WHERE key = 'recurring-job:pos-sync' AND field = 'Cron'") == "*/5 * * * *",
            "pos-sync registered with its new schedule once the abandoned lock expired", 60_000);
    }
}
