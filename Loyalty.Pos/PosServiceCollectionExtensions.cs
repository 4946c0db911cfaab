using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Options;
using Polly;

namespace Loyalty.Pos;

public static class PosServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="PosClient"/> with its resilience pipeline: a total timeout, retries with exponential
    /// back-off and jitter on transient failures only (408, 429 honouring Retry-After, 5xx, connection errors,
    /// attempt timeouts), a circuit breaker, and a per-attempt timeout. Each POS host gets its own pipeline, so
    /// one shop's broken POS never opens the circuit for another's. An answer is read whole inside each attempt,
    /// so a body cut off by a dropped connection is retried like any transport failure.
    /// </summary>
    public static IHttpClientBuilder AddPosClient(this IServiceCollection services, Action<PosClientOptions>? configure = null)
    {
        var options = services.AddOptions<PosClientOptions>();
        if (configure is not null) options.Configure(configure);
        options.ValidateOnStart();
        services.AddSingleton<IValidateOptions<PosClientOptions>>(new PosClientOptionsValidator());

        var builder = services.AddHttpClient<PosClient>(http => http.Timeout = Timeout.InfiniteTimeSpan)
            .ConfigurePrimaryHttpMessageHandler(sp =>
            {
                var allowPrivate = sp.GetRequiredService<IOptions<PosClientOptions>>().Value.AllowPrivateNetworks;
                return NetworkGuard.CreateHandler(allowPrivate);
            });

        builder.AddResilienceHandler("pos", (pipeline, context) =>
        {
            var o = context.ServiceProvider.GetRequiredService<IOptions<PosClientOptions>>().Value;
            pipeline.AddTimeout(TimeSpan.FromSeconds(o.TotalTimeoutSeconds));
            if (o.MaxRetries > 0) // Polly refuses a retry strategy of 0 attempts; 0 means none
            {
                pipeline.AddRetry(new HttpRetryStrategyOptions
                {
                    MaxRetryAttempts = o.MaxRetries,
                    BackoffType = DelayBackoffType.Exponential,
                    UseJitter = true,
                    Delay = TimeSpan.FromMilliseconds(o.RetryBaseDelayMs),
                    ShouldRetryAfterHeader = true,
                });
            }
            pipeline
                .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
                {
                    FailureRatio = o.CircuitFailureRatio,
                    MinimumThroughput = o.CircuitMinimumThroughput,
                    SamplingDuration = TimeSpan.FromSeconds(o.CircuitSamplingSeconds),
                    BreakDuration = TimeSpan.FromSeconds(o.CircuitBreakSeconds),
                })
                .AddTimeout(TimeSpan.FromSeconds(o.AttemptTimeoutSeconds));
        }).SelectPipelineByAuthority();
        // Inside the pipeline, so an answer whose body is cut off (the connection dropped after the headers) is a
        // failed attempt the retry sees, not an exception after the pipeline has returned.
        builder.AddHttpMessageHandler(() => new BufferResponseHandler());
        return builder;
    }

    /// <summary>Reads each answer's body (the POS's are small JSON) before handing it back up the pipeline.</summary>
    private sealed class BufferResponseHandler : DelegatingHandler
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            try
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken);
            }
            catch
            {
                response.Dispose();
                throw;
            }
            return response;
        }
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

/// <summary>
/// Outbound HTTP to addresses merchants type in (POS URLs, event endpoints) must not reach loopback or private
/// networks (server-side request forgery): the check runs on the resolved addresses at connect time, so a
/// DNS name that points inward is refused too.
/// </summary>
public static class NetworkGuard
{
    public static SocketsHttpHandler CreateHandler(bool allowPrivateNetworks) => new()
    {
        PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        ConnectCallback = (context, ct) => ConnectAsync(context, allowPrivateNetworks, ct),
    };

    /// <summary>Connects only to public addresses unless private networks are allowed.</summary>
    private static async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, bool allowPrivate, CancellationToken ct)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await Dns.GetHostAddressesAsync(host, ct);
        var permitted = addresses.Where(a => allowPrivate || IsPublic(a)).ToArray();
        if (permitted.Length == 0)
        {
            throw new HttpRequestException($"The POS host {host} resolves only to loopback or private addresses, which are not allowed.");
        }
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(permitted, context.DnsEndPoint.Port, ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public static bool IsPublic(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (IPAddress.IsLoopback(address) || address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any)) return false;
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            return !(address.IsIPv6LinkLocal || address.IsIPv6SiteLocal || address.IsIPv6UniqueLocal || address.IsIPv6Multicast);
        }
        var b = address.GetAddressBytes();
        return !(b[0] == 10 || b[0] == 127 || b[0] == 0 || (b[0] == 172 && b[1] is >= 16 and <= 31) || (b[0] == 192 && b[1] == 168)
                 || (b[0] == 169 && b[1] == 254) || (b[0] == 100 && b[1] is >= 64 and <= 127) || b[0] >= 224);
    }
}
