using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Loyalty.Pos;

public static class PosServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="PosClient"/> with its resilience pipeline (<see cref="PosPipelines"/>: a total timeout, retries with
    /// exponential back-off and jitter on transient failures only, a circuit breaker, and a per-attempt timeout). Each POS connection
    /// (host and API key) gets its own pipeline (<see cref="PipelineKey"/>), so one shop's failing calls never open the circuit for
    /// another shop, not even one on the same multi-tenant POS host; at most <see cref="PosClientOptions.MaxCircuits"/> are kept. An
    /// answer is read whole inside each attempt, up to
    /// <see cref="PosClientOptions.MaxResponseBytes"/>, so a body cut off by a dropped connection is retried like any
    /// transport failure and a body past the limit fails the call (<see cref="ResponseSizeLimitHandler"/>). Each circuit's
    /// state is reported by <see cref="PosCircuits"/>. Circuits are shared between an app's instances through an
    /// <see cref="IPosCircuitBoard"/> the app registers (before or after this); by default nothing is shared.
    /// </summary>
    public static IHttpClientBuilder AddPosClient(this IServiceCollection services, Action<PosClientOptions>? configure = null)
    {
        var options = services.AddOptions<PosClientOptions>();
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();
        services.AddSingleton<IValidateOptions<PosClientOptions>>(new PosClientOptionsValidator());
        services.AddOptions<NetworkGuardOptions>().Validate(g => !g.Errors().Any(),
            "NetworkGuard:DeniedNetworks: every entry must be an IP address or a CIDR network.")
            .ValidateOnStart();
        services.AddMetrics();
        services.TryAddSingleton<PosCircuits>();
        services.TryAddSingleton<IPosCircuitBoard, UnsharedCircuitBoard>();
        services.TryAddSingleton(TimeProvider.System);

        var builder = services.AddHttpClient<PosClient>(http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var allowPrivate = sp.GetRequiredService<IOptions<PosClientOptions>>().Value.AllowPrivateNetworks;
                return NetworkGuard.CreateHandler(allowPrivate, sp.GetRequiredService<IOptions<NetworkGuardOptions>>().Value,
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(NetworkGuard)));
            });

        services.TryAddSingleton<PosPipelines>();
        builder.AddHttpMessageHandler(sp => new ResilienceHandler(sp.GetRequiredService<PosPipelines>().For));
        // Added after the resilience handler, so it runs inside each attempt.
        builder.AddHttpMessageHandler(sp => new ResponseSizeLimitHandler(sp.GetRequiredService<IOptions<PosClientOptions>>().Value.MaxResponseBytes));
        return builder;
    }

    /// <summary>Per process: a key's hash in a pipeline name (logged, in metrics) cannot be looked up or compared across instances.</summary>
    private static readonly byte[] PipelineKeySalt = RandomNumberGenerator.GetBytes(32);

    /// <summary>
    /// The resilience pipeline (and so the circuit) of a request: its POS's scheme, host and port, and a keyed hash of the API
    /// key it carries. Shops on one multi-tenant POS host differ by their keys. The name is logged and tagged on metrics, so it
    /// never holds the key itself.
    /// </summary>
    internal static string PipelineKey(HttpRequestMessage request)
    {
        var uri = request.RequestUri!;
        var key = request.Headers.Authorization?.Parameter ?? "";
        var hash = Convert.ToHexStringLower(HMACSHA256.HashData(PipelineKeySalt, Encoding.UTF8.GetBytes(key)).AsSpan(0, 8));
        return $"{uri.Scheme}://{uri.Authority}#{hash}";
    }

    private sealed class PosClientOptionsValidator : IValidateOptions<PosClientOptions>
    {
        public ValidateOptionsResult Validate(string? name, PosClientOptions options)
        {
            var errors = options.Errors().ToList();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
