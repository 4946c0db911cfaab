using System.Diagnostics;
using System.Globalization;
using Dapper;
using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Sandbox;
using Npgsql;

namespace Loyalty.Bench;

/// <summary>
/// What every benchmark runs against: a private PostgreSQL (the same server settings the tests use), the
/// Shopify and POS simulators on local sockets (seeded), and the real app started as separate processes
/// (<c>dotnet Loyalty.ShopifyApp.dll</c>, so they can be SIGKILLed), all sharing one database.
/// </summary>
public sealed class BenchEnvironment : IAsyncDisposable
{
    public const string ClientId = "bench-client-id";
    public const string ClientSecret = "bench-client-secret-0123456789abcdef0123456789";
    public const string Shop = "bench-shop.myshopify.com";

    private readonly string _dir;
    private readonly List<AppInstance> _apps = [];

    private BenchEnvironment(string dir, LocalPostgres pg, string connectionString, ShopifySimulator shopify, PosSimulator pos)
    {
        _dir = dir;
        Postgres = pg;
        ConnectionString = connectionString;
        Shopify = shopify;
        Pos = pos;
    }

    public LocalPostgres Postgres { get; }

    public string ConnectionString { get; }

    public ShopifySimulator Shopify { get; }

    public PosSimulator Pos { get; }

    public IReadOnlyList<AppInstance> Apps => _apps;

    public string Directory => _dir;

    /// <summary>
    /// The soak's environment: a database without fsync, since the soak judges correctness, not speed, and its PostgreSQL
    /// restart is a fast shutdown (no acknowledged commit is lost by one).
    /// </summary>
    public static Task<BenchEnvironment> StartAsync(int seed, CancellationToken ct) => StartAsync(seed, durable: false, ct);

    /// <param name="durable">
    /// The database with production durability (fsync and synchronous_commit on), as the ingest and conversion benchmarks
    /// run by default; <c>--fast-db</c> turns it off, as the tests run it.
    /// </param>
    /// <param name="profile">Loads pg_stat_statements, for <see cref="CpuProfile"/>.</param>
    public static async Task<BenchEnvironment> StartAsync(int seed, bool durable, CancellationToken ct, bool profile = false)
    {
        var dir = Path.Combine(Path.GetTempPath(), "loyalty-bench-" + Guid.NewGuid().ToString("N")[..8]);
        System.IO.Directory.CreateDirectory(dir);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir, (UnixFileMode)0b111_101_101); // PostgreSQL runs as postgres when we are root
        var pg = new LocalPostgres(Path.Combine(dir, "postgres"), LocalPostgres.FreePort())
        {
            Durable = durable, ExtraOptions = profile ? CpuProfile.PostgresOptions : "",
        };
        await pg.StartAsync(ct);
        await using (var admin = new NpgsqlConnection(pg.ConnectionString("postgres")))
        {
            await admin.ExecuteAsync("CREATE DATABASE loyalty_bench");
        }
        Console.WriteLine(durable ? "# database: PostgreSQL with production durability (fsync, synchronous_commit, full_page_writes on)"
            : "# database: PostgreSQL with fsync, synchronous_commit and full_page_writes off (--fast-db: not production figures)");
        var shopify = await ShopifySimulator.StartAsync(ClientId, ClientSecret, seed, ct: ct);
        var pos = await PosSimulator.StartAsync("bench-pos-key", seed, ct: ct);
        // One long-lived database: keep idle connections (LocalPostgres prunes after 10 s for the tests' churn of databases).
        var connectionString = new NpgsqlConnectionStringBuilder(
            pg.ConnectionString("loyalty_bench")) { ConnectionIdleLifetime = 300 }.ConnectionString;
        return new BenchEnvironment(dir, pg, connectionString, shopify, pos);
    }

    /// <summary>Starts one more app instance and waits until it is ready.</summary>
    public async Task<AppInstance> StartAppAsync(IDictionary<string, string>? settings = null, CancellationToken ct = default)
    {
        var app = new AppInstance(_apps.Count + 1, this, settings ?? new Dictionary<string, string>());
        _apps.Add(app);
        await app.StartAsync(ct);
        return app;
    }

    /// <summary>
    /// The conversion benchmark's floor (<see cref="FloorServer"/>) as a process of its own, started and measured as the app is;
    /// <paramref name="settings"/> are its <c>Floor:</c> settings.
    /// </summary>
    public async Task<AppInstance> StartFloorAsync(IDictionary<string, string> settings, CancellationToken ct)
    {
        var floor = new AppInstance(_apps.Count + 1, this, settings, [typeof(FloorServer).Assembly.Location, FloorServer.Command]);
        _apps.Add(floor);
        await floor.StartAsync(ct);
        return floor;
    }

    /// <summary>Installs the bench shop through token exchange (a session token to the admin API) and sets its rules.</summary>
    public static async Task InstallShopAsync(AppInstance app, object settings, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = app.BaseUrl };
        using var install = AdminRequest(HttpMethod.Get, "/api/admin/shop");
        (await http.SendAsync(install, ct)).EnsureSuccessStatusCode();
        using var put = AdminRequest(HttpMethod.Put, "/api/admin/settings");
        put.Content = System.Net.Http.Json.JsonContent.Create(settings);
        var response = await http.SendAsync(put, ct);
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException("Settings refused: " + await response.Content.ReadAsStringAsync(ct));
    }

    public static HttpRequestMessage AdminRequest(HttpMethod method, string path)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new("Bearer", ShopifyOutbound.SessionToken(Shop, ClientId, ClientSecret));
        return request;
    }

    public async Task<T> ScalarAsync<T>(string sql, object? args = null)
    {
        await using var conn = new NpgsqlConnection(ConnectionString);
        return await conn.ExecuteScalarAsync<T>(sql, args) ?? throw new InvalidOperationException("No value: " + sql);
    }

    public NpgsqlConnection Connection() => new(ConnectionString);

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps) app.Kill();
        await Shopify.DisposeAsync();
        await Pos.DisposeAsync();
        await Postgres.StopAsync();
        // BENCH_KEEP=1 keeps the run's directory (the apps' logs, the database) for a look afterwards.
        if (Environment.GetEnvironmentVariable("BENCH_KEEP") == "1")
        {
            Console.WriteLine($"# kept: {_dir}");
            return;
        }
        try { System.IO.Directory.Delete(_dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    /// <summary>The app's build output next to this bench's (same configuration).</summary>
    public static string AppDll()
    {
        var here = AppContext.BaseDirectory; // …/Loyalty.Bench/bin/<Configuration>/net10.0/
        var parts = here.TrimEnd(Path.DirectorySeparatorChar).Split(Path.DirectorySeparatorChar);
        var configuration = parts[^2];
        var root = Path.GetFullPath(Path.Combine(here, "..", "..", "..", ".."));
        var dll = Path.Combine(root, "Loyalty.ShopifyApp", "bin", configuration, "net10.0", "Loyalty.ShopifyApp.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the solution first (the app is started from its build output).", dll);
    }
}

/// <summary>One app process. <see cref="Kill"/> is SIGKILL; <see cref="StartAsync"/> starts it again on the same port.</summary>
/// <param name="command">What runs instead of the app (the floor: the bench's own assembly and its command); null: the app.</param>
public sealed class AppInstance(int number, BenchEnvironment env, IDictionary<string, string> settings, string[]? command = null)
{
    private Process? _process;
    private readonly int _port = LocalPostgres.FreePort();
    private long _peakRssKb;

    public int Number => number;

    public Uri BaseUrl => new($"http://127.0.0.1:{_port}");

    public bool Running => _process is { HasExited: false };

    /// <summary>The running process's id (0 when it is not running).</summary>
    public int Pid => _process is { HasExited: false } p ? p.Id : 0;

    public int Starts { get; private set; }

    public string LogPath => Path.Combine(env.Directory, $"app{number}.log");

    /// <summary>Settings added to the instance's own from its next start on (the soak's jump of the program's clock).</summary>
    public Dictionary<string, string> Overrides { get; } = [];

    public async Task StartAsync(CancellationToken ct)
    {
        var dll = command?[0] ?? BenchEnvironment.AppDll();
        var psi = new ProcessStartInfo("dotnet", [.. command ?? [dll], "--urls", BaseUrl.ToString()])
        {
            WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        var env2 = new Dictionary<string, string>
        {
            // The simulators are on loopback over http, which Pos:AllowPrivateNetworks and Settings:AllowInsecurePosUrls allow in
            // Development only; the logs stay JSON as in Production.
            ["ASPNETCORE_ENVIRONMENT"] = "Development",
            ["Logging__Console__FormatterName"] = "json",
            ["ConnectionStrings__Loyalty"] = env.ConnectionString,
            ["Shopify__ApiKey"] = BenchEnvironment.ClientId,
            ["Shopify__ApiSecret"] = BenchEnvironment.ClientSecret,
            ["Shopify__AppUrl"] = BaseUrl.ToString().TrimEnd('/'),
            ["Shopify__AdminUrlTemplate"] = env.Shopify.AdminUrlTemplate,
            ["Settings__AllowInsecurePosUrls"] = "true",
            ["Pos__AllowPrivateNetworks"] = "true",
            ["Logging__LogLevel__Default"] = "Warning",
            ["Logging__LogLevel__Microsoft.Hosting.Lifetime"] = "Information",
        };
        foreach (var (k, v) in settings.Concat(Overrides)) env2[k.Replace(":", "__", StringComparison.Ordinal)] = v;
        // Runtime experiments without code changes: BENCH_APP_DOTNET_gcServer=0 reaches the app as DOTNET_gcServer=0.
        foreach (var entry in Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>())
        {
            if (entry.Key is string key && key.StartsWith("BENCH_APP_",
                StringComparison.Ordinal)) env2[key["BENCH_APP_".Length..]] = (string)entry.Value!;
        }
        foreach (var (k, v) in env2) psi.Environment[k] = v;

        _process = Process.Start(psi) ?? throw new InvalidOperationException("Could not start the app.");
        Starts++;
        var log = File.AppendText(LogPath);
        log.AutoFlush = true;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(90);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                // The log goes with the environment's directory when it is disposed: its last lines travel with the exception.
                _process.WaitForExit();
                string tail;
                lock (log)
                {
                    using var reader = new StreamReader(new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
                    tail = string.Join(Environment.NewLine, reader.ReadToEnd().Split('\n').TakeLast(20));
                }
                throw new InvalidOperationException(
                    $"App {number} exited during start-up (code {_process.ExitCode}); the end of {LogPath}:{Environment.NewLine}{tail}");
            }
            try
            {
                if ((await http.GetAsync(new Uri(BaseUrl, "/health/ready"), ct)).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
            await Task.Delay(200, ct);
        }
        throw new TimeoutException($"App {number} did not become ready; see {LogPath}.");
    }

    /// <summary>Peak resident memory of the current process so far (VmHWM), sampled before it is killed.</summary>
    public long PeakRssKb
    {
        get
        {
            Sample();
            return _peakRssKb;
        }
    }

    private void Sample()
    {
        if (_process is not { HasExited: false } p) return;
        try
        {
            var line = File.ReadLines($"/proc/{p.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
            if (line is not null)
            {
                var kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
                _peakRssKb = Math.Max(_peakRssKb, kb);
            }
        }
        catch (IOException) { }
    }

    /// <summary>SIGKILL: no shutdown hooks, no draining.</summary>
    public void Kill()
    {
        Sample();
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }
    }
}
