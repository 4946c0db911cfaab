using Npgsql;

namespace Loyalty.Tests.Infrastructure.Db;

/// <summary>
/// The database going away under the app (a restart, a failover; found by the soak's PostgreSQL restart): the
/// answer is 503 <c>database_unavailable</c> with Retry-After, which My Page and the soak resend with the same key,
/// not a 500 the customer cannot act on (what it was before).
/// </summary>
public sealed class DatabaseOutageTests
{
    [Fact]
    public async Task Connections_cut_under_the_app_answer_503_database_unavailable_and_the_same_request_then_succeeds()
    {
        using var shopify = new ShopifyFake();
        // Nothing in the background takes connections from the pool: the webhook processor and the job server, polling
        // every few milliseconds, would otherwise meet the cut connections first and the request below might never see one.
        await using var app = await LoyaltyApp.StartAsync(shopify, new Dictionary<string, string?>
        {
            ["Webhooks:ProcessingEnabled"] = "false",
            ["Jobs:ServerEnabled"] = "false",
        });
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);
        var me = () => app.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/me", shop, 777));
        Assert.Equal(HttpStatusCode.OK, (await me()).StatusCode); // the pool now holds open connections

        // Every server connection of the app's database is cut, as a restart would.
        var database = new NpgsqlConnectionStringBuilder(app.ConnectionString).Database;
        await using (var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(app.ConnectionString) { Database = "postgres",
            Pooling = false }.ConnectionString))
        {
            await admin.OpenAsync();
            await using var kill = new NpgsqlCommand("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = @database",
                admin);
            kill.Parameters.AddWithValue("database", database!);
            Assert.True((long)(await kill.ExecuteScalarAsync())! > 0);
        }

        var statuses = new List<HttpStatusCode>();
        HttpResponseMessage response;
        do
        {
            response = await me();
            statuses.Add(response.StatusCode);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
            {
                var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
                Assert.Equal("database_unavailable", problem.GetProperty("code").GetString());
                Assert.NotNull(response.Headers.RetryAfter);
            }
        }
        while (response.StatusCode != HttpStatusCode.OK && statuses.Count < 50);

        Assert.Contains(HttpStatusCode.ServiceUnavailable, statuses); // a broken pooled connection was met
        Assert.DoesNotContain(HttpStatusCode.InternalServerError, statuses);
        Assert.Equal(HttpStatusCode.OK, statuses[^1]);
    }
}
