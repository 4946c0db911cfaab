using System.Diagnostics;
using System.Globalization;

namespace Loyalty.Bench;

/// <summary>
/// <c>perf record</c> of one process over a measured phase, when <c>BENCH_PERF_DIR</c> names a directory: where a target's own CPU
/// goes, without the warm-up's compilation. For .NET frames give the app <c>BENCH_APP_DOTNET_PerfMapEnabled=1</c> and
/// <c>BENCH_APP_DOTNET_EnableWriteXorExecute=0</c>; then <c>perf report -i DIR/NAME.data</c>. Nothing is started otherwise. perf
/// slows what it records: a recorded run's throughput is not compared with others'.
/// </summary>
public sealed class PerfRecording : IAsyncDisposable
{
    private readonly Process? _perf;

    private PerfRecording(Process? perf) => _perf = perf;

    public static PerfRecording Start(int pid, string name)
    {
        var dir = Environment.GetEnvironmentVariable("BENCH_PERF_DIR");
        if (string.IsNullOrEmpty(dir) || pid == 0) return new PerfRecording(null);
        Directory.CreateDirectory(dir);
        var output = Path.Combine(dir, name + ".data");
        // Its own messages go to the bench's console; its CPU is not the sender's (IngestComparison reads the bench's own threads only).
        var perf = Process.Start("perf", ["record", "-F", "999", "-g", "-p", pid.ToString(CultureInfo.InvariantCulture), "-o", output]);
        Thread.Sleep(300); // perf attaches before the phase's clock starts
        Console.WriteLine($"# perf recording pid {pid} to {output}");
        return new PerfRecording(perf);
    }

    public async ValueTask DisposeAsync()
    {
        if (_perf is null || _perf.HasExited) return;
        using var interrupt = Process.Start("kill", ["-INT", _perf.Id.ToString(CultureInfo.InvariantCulture)]);
        await interrupt.WaitForExitAsync();
        await _perf.WaitForExitAsync();
        _perf.Dispose();
    }
}
