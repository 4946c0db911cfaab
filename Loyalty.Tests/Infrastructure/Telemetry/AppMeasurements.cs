using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Loyalty.Tests.Infrastructure.Telemetry;

/// <summary>
/// What one app's instruments report, read with a <see cref="MeterListener"/> as an exporter reads them. Only the
/// instruments of the given services' own <see cref="IMeterFactory"/> are heard: meters are process-wide,
/// and the other tests' apps running beside this one use the same meter and instrument names.
/// </summary>
public sealed class AppMeasurements : IDisposable
{
    public sealed record Measured(string Instrument, double Value, IReadOnlyDictionary<string, string?> Tags);

    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<Measured> _measured = new();
    private readonly Lock _observing = new();

    public AppMeasurements(IServiceProvider services)
    {
        var factory = services.GetRequiredService<IMeterFactory>();
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter.Scope, factory)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<int>((i, value, tags, _) => Record(i, value, tags));
        _listener.SetMeasurementEventCallback<double>((i, value, tags, _) => Record(i, value, tags));
        _listener.Start();
    }

    /// <summary>Every measurement of <paramref name="instrument"/> since this listener started, with all of <paramref name="tags"/>.</summary>
    public IReadOnlyList<double> Values(string instrument, params (string Key, string Value)[] tags) =>
        _measured.Where(m => m.Instrument == instrument && tags.All(t => m.Tags.TryGetValue(t.Key, out var v) && v == t.Value))
            .Select(m => m.Value).ToList();

    /// <summary>The sum a counter was increased by since this listener started, for the measurements with all of <paramref name="tags"/>.</summary>
    public double Sum(string instrument, params (string Key, string Value)[] tags) => Values(instrument, tags).Sum();

    /// <summary>What an observable instrument reports now (a collection, as an exporter's).</summary>
    public IReadOnlyList<Measured> Observe(string instrument)
    {
        lock (_observing)
        {
            var before = _measured.Count;
            _listener.RecordObservableInstruments();
            return _measured.Skip(before).Where(m => m.Instrument == instrument).ToList();
        }
    }

    private void Record(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var map = new Dictionary<string, string?>();
        foreach (var (k, v) in tags) map[k] = v?.ToString();
        _measured.Enqueue(new Measured(instrument.Name, value, map));
    }

    public void Dispose() => _listener.Dispose();
}
