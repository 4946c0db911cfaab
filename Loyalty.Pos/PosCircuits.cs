using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Loyalty.Pos;

/// <summary>
/// The POS hosts' circuit breakers as an operator watches them, on <c>Meter("Loyalty.Pos")</c>: how many are closed,
/// open or half-open now, each change of state, and each one dropped past <c>Pos:MaxCircuits</c>. Every POS host has a circuit of its own
/// (<see cref="PosServiceCollectionExtensions.AddPosClient"/>); the host is no tag, so the series stay three however
/// many shops connect a POS. The client's warning lines name the host.
/// </summary>
public sealed class PosCircuits
{
    public const string MeterName = "Loyalty.Pos";
    public const string Closed = "closed";
    public const string Open = "open";
    public const string HalfOpen = "half_open";

    private static readonly string[] States = [Closed, Open, HalfOpen];

    /// <summary>Each circuit's state, and when it is open, the timestamp its break ends.</summary>
    private readonly ConcurrentDictionary<object, (string State, long BreakEnds)> _circuits = new();
    private readonly TimeProvider _clock;
    private readonly Counter<long> _transitions;
    private readonly Counter<long> _evicted;

    public PosCircuits(IMeterFactory meters, TimeProvider clock)
    {
        _clock = clock;
        var meter = meters.Create(MeterName);
        _transitions = meter.CreateCounter<long>("loyalty.pos.circuit.transitions", "{transition}",
            "POS circuit breakers that changed state, by the state they entered (open, half_open, closed)");
        _evicted = meter.CreateCounter<long>("loyalty.pos.circuits.evicted", "{circuit}",
            "POS connections whose pipeline (and circuit) was dropped as the least recently used past Pos:MaxCircuits, by the state it was in");
        meter.CreateObservableGauge("loyalty.pos.circuits", Count, "{circuit}",
            "Circuit breakers of the POS hosts this instance has called, by state (closed, open, half_open)");
    }

    /// <summary>A POS connection's pipeline was built: its circuit, identified by <paramref name="circuit"/> from now on, starts closed.</summary>
    internal void Track(object circuit) => _circuits[circuit] = (Closed, 0);

    internal void Moved(object circuit, string state) => Moved(circuit, state, 0);

    /// <summary>The circuit opened for <paramref name="breakDuration"/>.</summary>
    internal void Opened(object circuit, TimeSpan breakDuration)
    {
        var now = _clock.GetTimestamp();
        var ticks = breakDuration.TotalSeconds * _clock.TimestampFrequency;
        Moved(circuit, Open, ticks >= long.MaxValue - now ? long.MaxValue : now + (long)ticks);
    }

    private void Moved(object circuit, string state, long breakEnds)
    {
        if (_circuits.TryGetValue(circuit, out var before)) _circuits.TryUpdate(circuit, (state, breakEnds), before);
        _transitions.Add(1, new KeyValuePair<string, object?>("state", state));
    }

    /// <summary>
    /// The pipeline was dropped (<see cref="PosPipelines"/> keeps a bounded number): its circuit no longer counts in the gauge, and
    /// the drop is counted by the state the circuit was in, which is returned. An open circuit whose break has ended counts as closed:
    /// Polly says open until its next call, which it would let through, so dropping it forgets no break.
    /// </summary>
    internal string Evict(object circuit)
    {
        var (state, breakEnds) = _circuits.TryRemove(circuit, out var last) ? last : (Closed, 0);
        if (state == Open && _clock.GetTimestamp() >= breakEnds) state = Closed;
        _evicted.Add(1, new KeyValuePair<string, object?>("state", state));
        return state;
    }

    private IEnumerable<Measurement<long>> Count()
    {
        var states = _circuits.Values.Select(c => c.State).ToList();
        return States.Select(s => new Measurement<long>(states.Count(v => v == s), new KeyValuePair<string, object?>("state", s)));
    }
}
