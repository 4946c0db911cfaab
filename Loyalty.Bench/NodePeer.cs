using System.Diagnostics;
using System.Globalization;

namespace Loyalty.Bench;

/// <summary>
/// The peer the webhook bench compares against: <c>Loyalty.Bench/peer/server.js</c>, Shopify's official Node library
/// (<c>@shopify/shopify-api</c> <c>webhooks.validate</c>) with express and pg, storing and awarding each delivery in one
/// transaction on the bench's database. Its packages are pinned in <c>package-lock.json</c> and installed with
/// <c>npm ci</c> on first use.
/// </summary>
public sealed class NodePeer : IAsyncDisposable
{
    private readonly Process _process;
    private long _peakRssKb;

    private NodePeer(Process process, Uri baseUrl)
    {
        _process = process;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    public static async Task<NodePeer> StartAsync(BenchEnvironment env, CancellationToken ct)
    {
        var dir = FindPeerDirectory();
        if (!Directory.Exists(Path.Combine(dir, "node_modules")))
        {
            Console.WriteLine("# installing the Node peer's pinned packages (npm ci)");
            await RunAsync("npm", ["ci", "--no-audit", "--no-fund"], dir, ct);
        }
        var db = new Npgsql.NpgsqlConnectionStringBuilder(env.ConnectionString);
        var psi = new ProcessStartInfo("node", ["server.js"])
        {
            WorkingDirectory = dir,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["PORT"] = "0",
                ["DATABASE_URL"] = $"postgres://{db.Username}@{db.Host}:{db.Port}/{db.Database}",
                ["SHOPIFY_API_KEY"] = BenchEnvironment.ClientId,
                ["SHOPIFY_API_SECRET"] = BenchEnvironment.ClientSecret,
                ["POOL_SIZE"] = "20",
            },
        };
        var process = Process.Start(psi)!;
        process.ErrorDataReceived += (_, e) => { if (e.Data is { Length: > 0 } line) Console.Error.WriteLine("  [node peer] " + line); };
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("listening on ", StringComparison.Ordinal))
            {
                var port = int.Parse(line["listening on ".Length..], CultureInfo.InvariantCulture);
                _ = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
                return new NodePeer(process, new Uri($"http://127.0.0.1:{port}"));
            }
        }
        throw new InvalidOperationException($"The Node peer exited before listening (code {(process.HasExited ? process.ExitCode : -1)}).");
    }

    public int Pid => _process.Id;

    /// <summary>Peak resident memory of the peer so far (VmHWM).</summary>
    public long PeakRssKb
    {
        get
        {
            if (!_process.HasExited)
            {
                var line = File.ReadLines($"/proc/{_process.Id}/status").FirstOrDefault(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
                if (line is not null) _peakRssKb = Math.Max(_peakRssKb,
                    long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture));
            }
            return _peakRssKb;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_process.HasExited) return;
        _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync();
        _process.Dispose();
    }

    private static string FindPeerDirectory()
    {
        foreach (var start in new[] { Environment.CurrentDirectory, AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var peer = Path.Combine(dir.FullName, "Loyalty.Bench", "peer");
                if (File.Exists(Path.Combine(peer, "package-lock.json"))) return peer;
            }
        }
        throw new InvalidOperationException("Loyalty.Bench/peer was not found above the current directory; run the bench from the repository.");
    }

    private static async Task RunAsync(string file, string[] args, string dir, CancellationToken ct)
    {
        using var p = Process.Start(new ProcessStartInfo(file, args) { WorkingDirectory = dir, RedirectStandardOutput = true,
            RedirectStandardError = true })!;
        var output = p.StandardOutput.ReadToEndAsync(ct);
        var error = p.StandardError.ReadToEndAsync(ct);
        await p.WaitForExitAsync(ct);
        if (p.ExitCode != 0) throw new InvalidOperationException(
            $"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {await output}{await error}");
    }
}
