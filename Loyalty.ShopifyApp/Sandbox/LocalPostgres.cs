using System.Diagnostics;
using System.Net.Sockets;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// Starts a private PostgreSQL cluster from the machine's PostgreSQL binaries, for the local sandbox and
/// the test suite, so neither needs a manual setup step. Never used when a connection string is configured.
/// When this process runs as root (containers, CI), initdb refuses to run, so the server runs as the <c>postgres</c>
/// user; and when that user cannot reach the requested directory (a clone under <c>/root</c>, mode 700), the data
/// lives under <see cref="RelocatedRoot"/> instead, one directory per requested path: nobody's home permissions change.
/// </summary>
public sealed partial class LocalPostgres
{
    /// <summary>Where a root-run cluster lives when the <c>postgres</c> user cannot reach the requested directory.</summary>
    public const string RelocatedRoot = "/var/lib/loyalty-dev";

    private readonly string _dataDirectory;
    private readonly string _binDirectory;
    private readonly bool _asPostgresUser;

    public LocalPostgres(string dataDirectory, int port)
    {
        RequestedDataDirectory = Path.GetFullPath(dataDirectory);
        Port = port;
        _binDirectory = FindBinDirectory(Environment.GetEnvironmentVariable("LOYALTY_PG_BIN"));
        _asPostgresUser = Environment.UserName == "root";
        _dataDirectory = _asPostgresUser && !ReachableByOthers(RequestedDataDirectory) ? Relocated(RequestedDataDirectory) : RequestedDataDirectory;
    }

    public int Port { get; }

    /// <summary>
    /// Production durability (fsync, synchronous_commit and full_page_writes on, PostgreSQL's defaults), for benchmarks
    /// whose figures must hold on a production database. Off by default: the tests and the sandbox trade crash safety for
    /// speed (a commit the server acknowledged can be lost only if the machine or the server crashes).
    /// </summary>
    public bool Durable { get; init; }

    /// <summary>More server options (<c>-c name=value</c>), e.g. a benchmark's profiling extension.</summary>
    public string ExtraOptions { get; init; } = "";

    /// <summary>The directory asked for (<c>Database:LocalDataDirectory</c>).</summary>
    public string RequestedDataDirectory { get; }

    /// <summary>Where the cluster's data actually is: the requested directory, or its relocation (see <see cref="RelocatedRoot"/>).</summary>
    public string DataDirectory => _dataDirectory;

    /// <summary>
    /// Whether a user who is neither owner nor group (the <c>postgres</c> user, for root's directories) can reach the
    /// path: every existing ancestor must be searchable by others (the directories to create are made by root, 755).
    /// </summary>
    public static bool ReachableByOthers(string path)
    {
        if (OperatingSystem.IsWindows()) return true;
        for (var dir = Path.GetDirectoryName(path); !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (!Directory.Exists(dir)) continue;
            if (!File.GetUnixFileMode(dir).HasFlag(UnixFileMode.OtherExecute)) return false;
        }
        return true;
    }

    private static string Relocated(string requested)
    {
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(requested)))[..12];
        return Path.Combine(RelocatedRoot, hash, "postgres");
    }

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

        if (_dataDirectory != RequestedDataDirectory && !OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_dataDirectory)!,
                UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
            // A note where the data was asked for, so whoever looks there finds it.
            Directory.CreateDirectory(Path.GetDirectoryName(RequestedDataDirectory)!);
            await File.WriteAllTextAsync(RequestedDataDirectory + ".location",
                $"The postgres user cannot reach this directory, so this cluster's data is in {_dataDirectory}\n", ct);
        }
        Directory.CreateDirectory(_dataDirectory);
        if (_asPostgresUser)
        {
            if (!await PostgresUserExistsAsync(ct))
            {
                throw new InvalidOperationException(
                    "Running as root, the private PostgreSQL must run as the 'postgres' user, which does not exist on this machine. " +
                    "Install the PostgreSQL server package (it creates that user), run as another user, or configure ConnectionStrings:Loyalty.");
            }
            await RunAsync("chown", ["-R", "postgres:postgres", _dataDirectory], ct, asPostgres: false);
        }

        if (!File.Exists(Path.Combine(_dataDirectory, "PG_VERSION")))
        {
            await RunAsync(Path.Combine(_binDirectory, "initdb"),
                ["-D", _dataDirectory, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale"], ct);
        }

        var logFile = Path.Combine(_dataDirectory, "server.log");
        var options = $"-p {Port} -c listen_addresses=127.0.0.1 -c unix_socket_directories='{_dataDirectory}' " +
                      "-c max_connections=300" + (Durable ? "" : " -c fsync=off -c synchronous_commit=off -c full_page_writes=off") +
                      (ExtraOptions.Length > 0 ? " " + ExtraOptions : "");
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

    private static async Task<bool> PostgresUserExistsAsync(CancellationToken ct) =>
        File.Exists("/etc/passwd") && (await File.ReadAllLinesAsync("/etc/passwd", ct)).Any(l => l.StartsWith("postgres:", StringComparison.Ordinal));

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

    /// <summary>The PostgreSQL server binaries: <paramref name="configured"/> (<c>LOYALTY_PG_BIN</c>), else the newest under
    /// <c>/usr/lib/postgresql</c>, else on PATH; a sentence saying what to install when there are none.</summary>
    public static string FindBinDirectory(string? configured)
    {
        if (!string.IsNullOrEmpty(configured))
        {
            return File.Exists(Path.Combine(configured, "initdb")) ? configured
                : throw new InvalidOperationException(
                    $"LOYALTY_PG_BIN is {configured}, which has no initdb: point it at PostgreSQL's server binaries (e.g. " +
                    $"/usr/lib/postgresql/15/bin).");
        }
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
            "Install them (Debian: apt-get install postgresql), set LOYALTY_PG_BIN, or configure ConnectionStrings:Loyalty.");
    }
}
