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

    private readonly ConcurrentDictionary<object, string> _circuits = new();
    private readonly Counter<long> _transitions;
    private readonly Counter<long> _evicted;

    public PosCircuits(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        _transitions = meter.CreateCounter<long>("loyalty.pos.circuit.transitions", "{transition}",
            "POS circuit breakers that changed state, by the state they entered (open, half_open, closed)");
        _evicted = meter.CreateCounter<long>("loyalty.pos.circuits.evicted", "{circuit}",
            "POS connections whose pipeline (and circuit) was dropped as the least recently used past Pos:MaxCircuits, by the state it was in");
        meter.CreateObservableGauge("loyalty.pos.circuits", Count, "{circuit}",
            "Circuit breakers of the POS hosts this instance has called, by state (closed, open, half_open)");
    }

    /// <summary>A POS connection's pipeline was built: its circuit, identified by <paramref name="circuit"/> from now on, starts closed.</summary>
    internal void Track(object circuit) => _circuits[circuit] = Closed;

    internal void Moved(object circuit, string state)
    {
        if (_circuits.TryGetValue(circuit, out var before)) _circuits.TryUpdate(circuit, state, before);
        _transitions.Add(1, new KeyValuePair<string, object?>("state", state));
    }

    /// <summary>
    /// The pipeline was dropped (<see cref="PosPipelines"/> keeps a bounded number): its circuit no longer counts in the gauge, and
    /// the drop is counted by the state the circuit was in, which is returned.
    /// </summary>
    internal string Evict(object circuit)
    {
        var state = _circuits.TryRemove(circuit, out var last) ? last : Closed;
        _evicted.Add(1, new KeyValuePair<string, object?>("state", state));
        return state;
    }

    private IEnumerable<Measurement<long>> Count()
    {
        var states = _circuits.Values.ToList();
        return States.Select(s => new Measurement<long>(states.Count(v => v == s), new KeyValuePair<string, object?>("state", s)));
    }
}
