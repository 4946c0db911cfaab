using System.Collections.Concurrent;
using Loyalty.Pos;

namespace Loyalty.Tests.Pos;

// Shared circuit boards as the tests of Loyalty.Pos need them: broken, counting, in memory, slow.

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

/// <summary>A board whose reads hang, as a slow database's do, until the test lets them answer (no break); it counts them.</summary>
internal sealed class SlowBoard : IPosCircuitBoard
{
    private readonly TaskCompletionSource _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _reads;
    private int _inFlight;
    private int _mostInFlight;

    /// <summary>Reads begun.</summary>
    public int Reads => Volatile.Read(ref _reads);

    /// <summary>The most reads that were waiting for an answer at once.</summary>
    public int MostInFlight => Volatile.Read(ref _mostInFlight);

    public void Answer() => _answer.TrySetResult();

    public async Task<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct)
    {
        Interlocked.Increment(ref _reads);
        var now = Interlocked.Increment(ref _inFlight);
        for (var most = MostInFlight; now > most; most = MostInFlight) Interlocked.CompareExchange(ref _mostInFlight, now, most);
        try
        {
            await _answer.Task;
            return null;
        }
        finally
        {
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public Task OpenedAsync(PosCircuitKey key, TimeSpan breakDuration, CancellationToken ct) => Task.CompletedTask;

    public Task ClosedAsync(PosCircuitKey key, CancellationToken ct) => Task.CompletedTask;
}
