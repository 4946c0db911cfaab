using System.Collections.Concurrent;

namespace Loyalty.Bench;

/// <summary>
/// The figures a benchmark measured, by name, for <see cref="Targets"/> to judge after running several in one process. Each
/// benchmark records what it prints, from its own arithmetic (the generator's counts and clocks, the simulators' records, pgbench,
/// the peer), never from the app's tables alone.
/// </summary>
public static class Figures
{
    private static readonly ConcurrentDictionary<string, double> Measured = new(StringComparer.Ordinal);

    public static void Record(string name, double value) => Measured[name] = value;

    /// <summary>The figure, or null when the benchmark that measures it did not run or measured nothing.</summary>
    public static double? Get(string name) => Measured.TryGetValue(name, out var value) ? value : null;
}
