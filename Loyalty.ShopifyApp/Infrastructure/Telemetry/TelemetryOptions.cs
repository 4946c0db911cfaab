using System.ComponentModel.DataAnnotations;

namespace Loyalty.ShopifyApp.Infrastructure.Telemetry;

/// <summary>
/// Section <c>Telemetry</c>: what this instance records. Where it goes is OpenTelemetry's own business, read from the
/// standard variables (<c>OTEL_EXPORTER_OTLP_ENDPOINT</c>, <c>OTEL_SERVICE_NAME</c>, <c>OTEL_EXPORTER_OTLP_*</c>).
/// </summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>Record request, HTTP client and database spans. Off: no span is started, none exported.</summary>
    public bool Traces { get; set; } = true;

    /// <summary>Record metrics (the app's own and the libraries'). Off: every instrument is dropped, no gauge reads the database.</summary>
    public bool Metrics { get; set; } = true;

    /// <summary>
    /// How long the database-backed gauges (webhook backlog, conversions by state, POS rows) reuse one read: each
    /// collection costs at most one query per this many seconds, however often the exporter or several readers collect.
    /// </summary>
    [Range(1, 300, ErrorMessage = "Telemetry:GaugeCacheSeconds must be between 1 and 300 (seconds one database read serves the gauges).")]
    public double GaugeCacheSeconds { get; set; } = 5;
}
