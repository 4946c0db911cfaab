using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Microsoft.Extensions.Hosting;

namespace Loyalty.Tests.Infrastructure.Jobs;

/// <summary>
/// An instance that starts while PostgreSQL goes away (a restart, a failover; seen once in the soak as exit 134 of an
/// instance restarted while PostgreSQL was restarting): the instance comes up, and its recurring jobs are registered
/// once the database is back.
/// </summary>
public sealed class RecurringJobsRegistrationTests
{
    [Fact]
    public async Task A_database_that_goes_away_during_start_up_does_not_stop_the_instance_and_the_jobs_are_registered_when_it_is_back()
    {
        using var shopify = new ShopifyFake();
        var connectionString = await TestDatabase.CreateAsync();
        try
        {
            await using var app = await LoyaltyApp.StartAsync(shopify, connectionString: connectionString, services: s =>
            {
                // Migrations have run and the job server has started; then, right before the recurring jobs are
                // registered, the database stops taking connections and cuts the open ones.
                var registration = s.ToList().FindIndex(d => d.ServiceType == typeof(IHostedService)
                    && d.ImplementationType?.Name == "RecurringJobsRegistration");
                Assert.True(registration > 0, "the recurring-job registration is a hosted service of the app");
                s.Insert(registration, ServiceDescriptor.Singleton<IHostedService>(new DatabaseGoesAway(connectionString)));
            });

            Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health")).StatusCode);
            Assert.Equal(HttpStatusCode.ServiceUnavailable, (await app.Http.GetAsync("/health/ready")).StatusCode);

            await TestDatabase.SetConnectionsAllowedAsync(connectionString, allowed: true);

            // Every job but those the settings turn off (the tests' settings turn off token-refresh).
            var schedules = app.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<JobsOptions>>().Value.Schedules;
            var expected = app.Services.GetServices<RecurringJobDefinition>().Select(d => d.Id)
                .Where(id => !schedules.TryGetValue(id, out var cron) || !string.IsNullOrWhiteSpace(cron)).Order().ToList();
            Assert.NotEmpty(expected);
            await LoyaltyApp.WaitUntilAsync(async () =>
                    (await app.ScalarAsync<long>("SELECT count(*) FROM hangfire.set WHERE key = 'recurring-jobs' AND value = ANY(@expected)",
                        new { expected = expected.ToArray() })) == expected.Count,
                "every recurring job registered once the database was back", 30_000);
            Assert.Equal(HttpStatusCode.OK, (await app.Http.GetAsync("/health/ready")).StatusCode);
        }
        finally
        {
            await TestDatabase.SetConnectionsAllowedAsync(connectionString, allowed: true);
        }
    }

    private sealed class DatabaseGoesAway(string connectionString) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken) => TestDatabase.SetConnectionsAllowedAsync(connectionString, allowed: false);

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
