using System.Collections.Concurrent;
using Loyalty.Pos;

namespace Loyalty.Tests.Pos;

// Shared circuit boards as the tests of Loyalty.Pos need them: broken, counting, in memory.

/// <summary>A board whose database is down: every read and write throws.</summary>
internal sealed class BrokenBoard : IPosCircuitBoard
{
    public Task<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct) => throw new InvalidOperationException("board down");

    public Task OpenedAsync(PosCircuitKey key, TimeSpan breakDuration, CancellationToken ct) => throw new InvalidOperationException("board down");

    public Task ClosedAsync(PosCircuitKey key, CancellationToken ct) => throw new InvalidOperationException("board down");
}

/// <summary>A board with no break on it, counting its reads.</summary>
internal sealed class CountingBoard : IPosCircuitBoard
{
    private int _reads;

    public int Reads => Volatile.Read(ref _reads);

    public Task<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct)
    {
        Interlocked.Increment(ref _reads);
        return Task.FromResult<TimeSpan?>(null);
    }

    public Task OpenedAsync(PosCircuitKey key, TimeSpan breakDuration, CancellationToken ct) => Task.CompletedTask;

    public Task ClosedAsync(PosCircuitKey key, CancellationToken ct) => Task.CompletedTask;
}

/// <summary>A board in memory, as a database would keep it for every instance.</summary>
internal sealed class MemoryBoard : IPosCircuitBoard
{
    private readonly ConcurrentDictionary<PosCircuitKey, DateTimeOffset> _until = new();

    public bool Holds(PosCircuitKey key) => _until.ContainsKey(key);

    public Task<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct) => Task.FromResult(
        _until.TryGetValue(key, out var until) && until > DateTimeOffset.UtcNow ? until - DateTimeOffset.UtcNow : (TimeSpan?)null);

    public Task OpenedAsync(PosCircuitKey key, TimeSpan breakDuration, CancellationToken ct)
    {
        _until[key] = DateTimeOffset.UtcNow + breakDuration;
        return Task.CompletedTask;
    }

    public Task ClosedAsync(PosCircuitKey key, CancellationToken ct)
    {
        _until.TryRemove(key, out _);
        return Task.CompletedTask;
    }
}
