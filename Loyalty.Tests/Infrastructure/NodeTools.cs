using System.Diagnostics;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// Shopify's own artefacts from npm (<c>tools/package.json</c>, pinned): installed once per machine with
/// <c>npm ci --prefix tools</c> when missing (CI installs them first), then used offline. Tests that judge the app
/// against them run node scripts from <c>tools/</c> through <see cref="NodeAsync"/>.
/// </summary>
public static class NodeTools
{
    private static readonly Lazy<Task<string>> Installed = new(InstallAsync);

    /// <summary>The repository's root (where <c>Loyalty.sln</c> is).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    /// <summary>The <c>tools/</c> directory with its <c>node_modules</c> installed.</summary>
    public static Task<string> DirectoryAsync() => Installed.Value;

    /// <summary>Runs <c>node</c> with <paramref name="args"/> in <c>tools/</c>; its exit code and output.</summary>
    public static async Task<(int Exit, string Output, string Error)> NodeAsync(params string[] args)
    {
        var tools = await DirectoryAsync();
        return await RunAsync("node", tools, args);
    }

    private static async Task<string> InstallAsync()
    {
        var tools = Path.Combine(RepoRoot, "tools");
        if (File.Exists(Path.Combine(tools, "node_modules", ".package-lock.json"))) return tools;
        var (exit, output, error) = await RunAsync("npm", tools, "ci", "--ignore-scripts", "--no-audit", "--no-fund");
        return exit == 0 ? tools : throw new InvalidOperationException($"npm ci in {tools} failed ({exit}): {error}{output}");
    }

    private static async Task<(int, string, string)> RunAsync(string file, string directory, params string[] args)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {file} (is Node.js installed?).");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await output, await error);
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Loyalty.sln"))) return dir.FullName;
        }
        throw new DirectoryNotFoundException("Loyalty.sln not found above the test output.");
    }
}
