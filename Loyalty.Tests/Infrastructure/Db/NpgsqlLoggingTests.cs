using Npgsql;

namespace Loyalty.Tests.Infrastructure.Db;

/// <summary>
/// Npgsql logs what it handles itself (a connection that failed, an exception it caught) through the app's logger
/// factory, so an operator finds those lines among the app's. Provoked here with a notice handler that throws: Npgsql
/// catches the exception and logs it as an error on its <c>Npgsql.Connection</c> category.
/// </summary>
public sealed class NpgsqlLoggingTests
{
    [Fact]
    public async Task An_error_Npgsql_catches_itself_is_logged_through_the_app()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);

        await using (var conn = await app.Db.OpenConnectionAsync())
        {
            conn.Notice += (_, _) => throw new InvalidOperationException("a notice handler that fails");
            await using var notice = new NpgsqlCommand("DO $$ BEGIN RAISE NOTICE 'logging probe'; END $$", conn);
            await notice.ExecuteNonQueryAsync();
        }

        // RecentLogs keeps only the Loyalty, Hangfire and Npgsql categories; this line is Npgsql's own.
        var lines = app.Log.Tail(contains: "User exception caught when emitting notice event");
        Assert.Contains("a notice handler that fails", lines);
    }
}
