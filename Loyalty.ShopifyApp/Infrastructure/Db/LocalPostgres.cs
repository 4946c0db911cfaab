using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Loyalty.ShopifyApp.Infrastructure.Db;

/// <summary>
/// Starts a private PostgreSQL cluster from the machine's PostgreSQL binaries, for the local sandbox and
/// the test suite, so neither needs a manual setup step. Never used when a connection string is configured.
/// When this process runs as root (CI), initdb refuses to run, so the server runs as the <c>postgres</c> user.
/// </summary>
public sealed class LocalPostgres
{
    private readonly string _dataDirectory;
    private readonly string _binDirectory;
    private readonly bool _asPostgresUser;

    public LocalPostgres(string dataDirectory, int port)
    {
        _dataDirectory = Path.GetFullPath(dataDirectory);
        Port = port;
        _binDirectory = FindBinDirectory();
        _asPostgresUser = Environment.UserName == "root";
    }

    public int Port { get; }

    public string ConnectionString(string database) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = "postgres",
        Database = database,
        Pooling = true,
        MaxPoolSize = 50,
        // The test suite creates and drops many databases; keep idle connections from pinning them.
        ConnectionIdleLifetime = 10,
    }.ConnectionString;

    /// <summary>Initialises the cluster if needed and starts it unless it is already running. Idempotent.</summary>
    public async Task StartAsync(CancellationToken ct)
    {
        if (await IsAcceptingConnectionsAsync(ct)) return;

        Directory.CreateDirectory(_dataDirectory);
        if (_asPostgresUser) await RunAsync("chown", ["-R", "postgres:postgres", _dataDirectory], ct, asPostgres: false);

        if (!File.Exists(Path.Combine(_dataDirectory, "PG_VERSION")))
        {
            await RunAsync(Path.Combine(_binDirectory, "initdb"),
                ["-D", _dataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"], ct);
        }

        var logFile = Path.Combine(_dataDirectory, "server.log");
        var options = $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{_dataDirectory}' " +
                      "-c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
        await RunAsync(Path.Combine(_binDirectory, "pg_ctl"),
            ["-D", _dataDirectory, "-l", logFile, "-o", options, "-w", "-t", "60", "start"], ct);

        for (var i = 0; i < 100 && !await IsAcceptingConnectionsAsync(ct); i++) await Task.Delay(100, ct);
        if (!await IsAcceptingConnectionsAsync(ct))
        {
            throw new InvalidOperationException($"Local PostgreSQL did not start; see {logFile}.");
        }
    }

    public async Task StopAsync()
    {
        if (!File.Exists(Path.Combine(_dataDirectory, "postmaster.pid"))) return;
        await RunAsync(Path.Combine(_binDirectory, "pg_ctl"), ["-D", _dataDirectory, "-m", "fast", "-w", "stop"], CancellationToken.None);
    }

    /// <summary>Stops a server whose owner is gone, without waiting for clients (pg_ctl -m immediate).</summary>
    public async Task StopImmediatelyAsync()
    {
        if (!File.Exists(Path.Combine(_dataDirectory, "postmaster.pid"))) return;
        await RunAsync(Path.Combine(_binDirectory, "pg_ctl"), ["-D", _dataDirectory, "-m", "immediate", "-w", "stop"], CancellationToken.None);
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task<bool> IsAcceptingConnectionsAsync(CancellationToken ct)
    {
        try
        {
            await using var conn = new NpgsqlConnection(ConnectionString("postgres") + ";Timeout=2;Pooling=false");
            await conn.OpenAsync(ct);
            return true;
        }
        catch (Exception e) when (e is NpgsqlException or SocketException or TimeoutException)
        {
            return false;
        }
    }

    private async Task RunAsync(string file, string[] args, CancellationToken ct, bool asPostgres = true)
    {
        var start = new ProcessStartInfo
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (asPostgres && _asPostgresUser)
        {
            start.FileName = "runuser";
            foreach (var a in (string[])["-u", "postgres", "--", file, .. args]) start.ArgumentList.Add(a);
        }
        else
        {
            start.FileName = file;
            foreach (var a in args) start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file}.");
        // pg_ctl start leaves the server holding the inherited pipes; read stderr only until the tool itself exits.
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        if (process.ExitCode != 0)
        {
            var err = stderr.IsCompleted ? await stderr : "";
            throw new InvalidOperationException($"{Path.GetFileName(file)} {string.Join(' ', args)} failed ({process.ExitCode}): {err}");
        }
    }

    private static string FindBinDirectory()
    {
        var configured = Environment.GetEnvironmentVariable("LOYALTY_PG_BIN");
        if (!string.IsNullOrEmpty(configured)) return configured;
        const string root = "/usr/lib/postgresql";
        if (Directory.Exists(root))
        {
            var newest = Directory.GetDirectories(root)
                .Select(d => (dir: d, ok: int.TryParse(Path.GetFileName(d), out var v), v))
                .Where(x => x.ok && File.Exists(Path.Combine(x.dir, "bin", "initdb")))
                .OrderByDescending(x => x.v)
                .FirstOrDefault();
            if (newest.dir is not null) return Path.Combine(newest.dir, "bin");
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            if (File.Exists(Path.Combine(dir, "initdb"))) return dir;
        }
        throw new InvalidOperationException(
            "No PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH). " +
            "Install PostgreSQL, set LOYALTY_PG_BIN, or configure ConnectionStrings:Loyalty.");
    }
}
