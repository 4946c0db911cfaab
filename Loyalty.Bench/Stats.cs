using System.Globalization;

namespace Loyalty.Bench;

/// <summary>Latency samples in milliseconds and their percentiles.</summary>
public sealed class Stats
{
    private readonly List<double> _samples = [];
    private readonly Lock _gate = new();

    public void Add(double ms)
    {
        lock (_gate) _samples.Add(ms);
    }

    public int Count
    {
        get { lock (_gate) return _samples.Count; }
    }

    public double Percentile(double p)
    {
        lock (_gate)
        {
            if (_samples.Count == 0) return double.NaN;
            var sorted = _samples.Order().ToList();
            var index = (int)Math.Ceiling(p / 100 * sorted.Count) - 1;
            return sorted[Math.Clamp(index, 0, sorted.Count - 1)];
        }
    }

    public double Mean
    {
        get { lock (_gate) return _samples.Count == 0 ? double.NaN : _samples.Average(); }
    }

    public double Max
    {
        get { lock (_gate) return _samples.Count == 0 ? double.NaN : _samples.Max(); }
    }

    public static string F(double v, int decimals = 1) => v.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
