using Loyalty.ShopifyApp.Sandbox;
using Npgsql;

namespace Loyalty.Tests.Sandbox;

/// <summary>
/// The private PostgreSQL of <c>dotnet run</c> starts wherever the repository was cloned and whoever runs it: as root
/// (containers, CI) the server runs as the postgres user, who cannot enter a clone under /root (mode 700).
/// </summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")] // Unix file modes: the case is a Unix one
public sealed class LocalPostgresTests
{
    [Fact]
    public async Task A_clone_in_a_directory_only_its_owner_can_enter_gets_a_running_database_without_touching_that_directory_s_permissions()
    {
        var home = Directory.CreateTempSubdirectory("loyalty-home-"); // mode 700, like /root
        File.SetUnixFileMode(home.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var requested = Path.Combine(home.FullName, "loyalty", "Loyalty.ShopifyApp", ".local", "postgres");
        var local = new LocalPostgres(requested, LocalPostgres.FreePort());
        try
        {
            await local.StartAsync(CancellationToken.None);

            await using (var conn = new NpgsqlConnection(local.ConnectionString("postgres")))
            {
                await conn.OpenAsync();
                Assert.Equal(1, await new NpgsqlCommand("SELECT 1", conn).ExecuteScalarAsync());
            }
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(home.FullName));
            if (Environment.UserName == "root")
            {
                // The server runs as postgres, who cannot reach the clone: the data lives where it can, and a note says where.
                Assert.StartsWith(LocalPostgres.RelocatedRoot + "/", local.DataDirectory);
                Assert.Contains(local.DataDirectory, await File.ReadAllTextAsync(requested + ".location"));
            }
            else
            {
                Assert.Equal(requested, local.DataDirectory); // the owner runs the server: the data is where it was asked for
            }
            Assert.True(File.Exists(Path.Combine(local.DataDirectory, "PG_VERSION")));
        }
        finally
        {
            await local.StopAsync();
            if (local.DataDirectory != requested) Directory.Delete(Path.GetDirectoryName(local.DataDirectory)!, recursive: true);
            home.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_directory_others_cannot_search_on_the_way_makes_the_path_unreachable_for_the_postgres_user()
    {
        var home = Directory.CreateTempSubdirectory("loyalty-home-");
        try
        {
            File.SetUnixFileMode(home.FullName, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            Assert.False(LocalPostgres.ReachableByOthers(Path.Combine(home.FullName, "repo", ".local", "postgres")));
            File.SetUnixFileMode(home.FullName, File.GetUnixFileMode(home.FullName) | UnixFileMode.OtherExecute);
            Assert.True(LocalPostgres.ReachableByOthers(Path.Combine(home.FullName, "repo", ".local", "postgres")));
        }
        finally
        {
            home.Delete(recursive: true);
        }
    }

    [Fact]
    public void Free_ports_for_servers_started_later_are_outside_the_range_outgoing_connections_take_and_never_repeat()
    {
        var ephemeralStart = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[])['\t', ' '])[0]);

        var ports = Enumerable.Range(0, 200).Select(_ => LocalPostgres.FreePort()).ToList();

        Assert.All(ports, p => Assert.InRange(p, 1024, ephemeralStart - 1));
        Assert.Equal(ports.Count, ports.Distinct().Count());
    }

    [Fact]
    public void Missing_server_binaries_are_named_with_what_to_install()
    {
        var error = Assert.Throws<InvalidOperationException>(() => LocalPostgres.FindBinDirectory("/nonexistent/postgresql/bin"));
        Assert.Contains("LOYALTY_PG_BIN", error.Message);
        Assert.Contains("initdb", error.Message);
    }
}
