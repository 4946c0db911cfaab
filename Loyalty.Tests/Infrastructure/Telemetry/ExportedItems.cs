using System.Collections.ObjectModel;

namespace Loyalty.Tests.Infrastructure.Telemetry;

/// <summary>
/// What an in-memory exporter received, safe to read while it writes: spans end on request threads (the tracer
/// provider also hears the ASP.NET Core and HttpClient sources of the other tests' apps in the process) and metrics
/// arrive from the periodic reader, while a test enumerates.
/// </summary>
public sealed class ExportedItems<T> : Collection<T>
{
    private readonly Lock _gate = new();

    /// <summary>A copy of everything received so far.</summary>
    public IReadOnlyList<T> Snapshot()
    {
        lock (_gate) return [.. Items];
    }

    protected override void InsertItem(int index, T item)
    {
        lock (_gate) base.InsertItem(index, item);
    }

    protected override void ClearItems()
    {
        lock (_gate) base.ClearItems();
    }
}
