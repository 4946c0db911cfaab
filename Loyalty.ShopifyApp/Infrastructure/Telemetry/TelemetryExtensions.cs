using Loyalty.ShopifyApp.Infrastructure.Jobs;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Loyalty.ShopifyApp.Infrastructure.Telemetry;

/// <summary>
/// OpenTelemetry traces (ASP.NET Core, HttpClient, Npgsql) and metrics (the same, plus the app's own: <see cref="LoyaltyMetrics"/>,
/// <see cref="ShopifyMetrics"/>, <see cref="JobRunMetrics"/> and the POS client's <see cref="PosCircuits"/>).
/// They are exported over OTLP only when an endpoint is configured (the standard <c>OTEL_EXPORTER_OTLP_ENDPOINT</c>
/// and <c>OTEL_EXPORTER_OTLP_*</c> variables, read by the exporter); without one nothing leaves the process.
/// What is recorded is <see cref="TelemetryOptions"/> (section <c>Telemetry</c>), read when the providers are built,
/// so every configuration source counts.
/// </summary>
public static class TelemetryExtensions
{
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IHostApplicationBuilder AddLoyaltyTelemetry(this IHostApplicationBuilder builder)
    {
        var endpoint = builder.Configuration[OtlpEndpointKey];
        if (!string.IsNullOrWhiteSpace(endpoint) && !Uri.TryCreate(endpoint, UriKind.Absolute, out _))
        {
            throw new InvalidOperationException($"{OtlpEndpointKey} must be an absolute URL such as http://collector:4317, not '{endpoint}'.");
        }

        builder.Services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        builder.Services.AddSingleton<LoyaltyMetrics>();
        var otel = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(builder.Configuration["OTEL_SERVICE_NAME"] ?? "loyalty"))
            .WithTracing(t => t
                .SetSampler(sp => sp.GetRequiredService<IOptions<TelemetryOptions>>().Value.Traces ? new AlwaysOnSampler() : new AlwaysOffSampler())
                .AddAspNetCoreInstrumentation(o => o.Filter = http => !http.Request.Path.StartsWithSegments("/health"))
                .AddHttpClientInstrumentation()
                .AddNpgsql()
                .AddSource(JobRunMetrics.ActivitySourceName, Features.Conversion.ConversionDrives.ActivitySourceName))
            .WithMetrics(m => m
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddMeter(LoyaltyMetrics.MeterName, PosCircuits.MeterName, "Npgsql"));
        builder.Services.ConfigureOpenTelemetryMeterProvider((sp, metrics) =>
        {
            if (!sp.GetRequiredService<IOptions<TelemetryOptions>>().Value.Metrics) metrics.AddView(_ => MetricStreamConfiguration.Drop);
        });
        if (!string.IsNullOrWhiteSpace(endpoint)) otel.UseOtlpExporter();

        // Created with the host so their instruments exist before the first collection.
        builder.Services.AddHostedService<MetricsWarmUp>();
        return builder;
    }

    private sealed class MetricsWarmUp(LoyaltyMetrics metrics, ShopifyMetrics shopify, PosCircuits pos, JobRunMetrics jobs) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            GC.KeepAlive((metrics, shopify, pos, jobs));
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
