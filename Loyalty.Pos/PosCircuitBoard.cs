namespace Loyalty.Pos;

/// <summary>
/// A POS connection as every instance of an app names it on the <see cref="IPosCircuitBoard"/>: the shop (tenant) it belongs to and
/// a fingerprint of its saved settings (<paramref name="Connection"/>), which changes when a merchant saves another URL or key, so a
/// break seen with the old ones never holds back the new. Never the API key itself: the board is stored, and the pipeline's own
/// key is hashed with a per-process salt, so it cannot be compared across instances.
/// </summary>
public sealed record PosCircuitKey(string Shop, string Connection);

/// <summary>
/// Circuit breaks shared by the instances of an app. When an instance's circuit of a POS connection opens, the break is posted here
/// (<see cref="OpenedAsync"/>), and every instance whose own circuit of that connection is closed fails its calls fast, as an open
/// circuit does (<see cref="Polly.CircuitBreaker.BrokenCircuitException"/>), until the break ends, or until a probe that succeeds
/// takes it down (<see cref="ClosedAsync"/>). So a shop's failing POS is not called N times as often by N instances, each waiting
/// for failures of its own before it stops. <see cref="PosPipelines"/> asks at most every
/// <see cref="PosClientOptions.SharedCircuitRefreshSeconds"/> per shop and connection, writes off the call's path, and never lets
/// the board fail a POS call. Only calls whose <see cref="PosConnection"/> carries a <see cref="PosCircuitKey"/> take part. The
/// default shares nothing; the app keeps the board in its database.
/// </summary>
public interface IPosCircuitBoard
{
    /// <summary>How much of a shared break of <paramref name="key"/> is left, or null when none is in force.</summary>
    Task<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct);

    /// <summary>An instance's circuit of <paramref name="key"/> opened for <paramref name="breakDuration"/>.</summary>
    Task OpenedAsync(PosCircuitKey key, TimeSpan breakDuration, CancellationToken ct);

    /// <summary>A probe of <paramref name="key"/> was answered by the POS and its circuit closed: no instance should hold back any longer.</summary>
    Task ClosedAsync(PosCircuitKey key, CancellationToken ct);
}

/// <summary>Nothing shared: each instance goes by its own circuits (<c>Loyalty.Pos</c> used on its own, with no database).</summary>
internal sealed class UnsharedCircuitBoard : IPosCircuitBoard
{
    public Task<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct) => Task.FromResult<TimeSpan?>(null);

    public Task OpenedAsync(PosCircuitKey key, TimeSpan breakDuration, CancellationToken ct) => Task.CompletedTask;

    public Task ClosedAsync(PosCircuitKey key, CancellationToken ct) => Task.CompletedTask;
}
