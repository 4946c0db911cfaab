using Loyalty.ShopifyApp.Infrastructure.Db;
using Npgsql;

namespace Loyalty.Tests.Infrastructure.Db;

/// <summary>DATABASE_URL, as hosting platforms give it, read into a connection string (no database needed).</summary>
public sealed class DatabaseUrlTests
{
    [Theory]
    [InlineData("postgres://loyal:s%40cret@db.example.com:6543/points?sslmode=require", "db.example.com", 6543, "points", "loyal", "s@cret")]
    [InlineData("postgresql://u:p@localhost/loyalty", "localhost", 5432, "loyalty", "u", "p")]
    public void DATABASE_URL_in_the_hosting_form_becomes_an_Npgsql_connection_string(string url, string host, int port, string database, string user,
        string password)
    {
        var builder = new NpgsqlConnectionStringBuilder(DatabaseUrl.ToConnectionString(url));

        Assert.Equal((host, port, database, user, password), (builder.Host, builder.Port, builder.Database, builder.Username, builder.Password));
    }

    [Fact]
    public void A_DATABASE_URL_that_is_not_postgres_is_refused_with_the_expected_form()
    {
        var error = Assert.Throws<FormatException>(() => DatabaseUrl.ToConnectionString("mysql://u:p@h/db"));
        Assert.Contains("postgres://user:password@host:5432/database", error.Message);
    }
}
