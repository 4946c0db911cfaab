using System.Net;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Options;
using IPNetwork = System.Net.IPNetwork;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// Section <c>Http</c>: the reverse proxies in front of this instance. Only a request that arrives from one of
/// <see cref="TrustedProxies"/> may say who the client is (<c>X-Forwarded-For</c>) and how it came (<c>X-Forwarded-Proto</c>);
/// from anyone else those headers are ignored, so a client cannot pick its own address. What uses the client address:
/// the jobs dashboard's lockout, which behind an untrusted proxy would lock every operator out at once.
/// </summary>
public sealed class HttpOptions
{
    public const string Section = "Http";

    /// <summary>Addresses or CIDR networks (<c>10.0.0.0/8</c>, <c>::1</c>) of the proxies whose forwarded headers count.</summary>
    public string[] TrustedProxies { get; set; } = [];

    /// <summary>How many proxies, from the nearest, may each add an address to <c>X-Forwarded-For</c>.</summary>
    public int ForwardLimit { get; set; } = 1;

    internal const string Rule = "Http: every TrustedProxies entry must be an IP address or a CIDR network (like 10.0.0.0/8), "
                                 + "and ForwardLimit 1-10.";

    internal bool IsValid() => ForwardLimit is >= 1 and <= 10 && TrustedProxies.All(p => TryNetwork(p, out _));

    internal static bool TryNetwork(string? entry, out IPNetwork network)
    {
        network = default;
        var text = entry?.Trim() ?? "";
        if (text.Contains('/')) return IPNetwork.TryParse(text, out network);
        if (!IPAddress.TryParse(text, out var address)) return false;
        network = new IPNetwork(address, address.GetAddressBytes().Length * 8);
        return true;
    }
}

public static class ForwardedClients
{
    public static IServiceCollection AddForwardedClients(this IServiceCollection services)
    {
        services.AddOptions<HttpOptions>().BindConfiguration(HttpOptions.Section)
            .Validate(o => o.IsValid(), HttpOptions.Rule)
            .ValidateOnStart();
        services.AddOptions<ForwardedHeadersOptions>().Configure<IOptions<HttpOptions>>((forwarded, http) =>
        {
            forwarded.ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto;
            forwarded.ForwardLimit = http.Value.ForwardLimit;
            // The framework trusts loopback by default; here only what is configured is trusted.
            forwarded.KnownProxies.Clear();
            forwarded.KnownIPNetworks.Clear();
            foreach (var entry in http.Value.TrustedProxies)
            {
                if (HttpOptions.TryNetwork(entry, out var network)) forwarded.KnownIPNetworks.Add(network);
            }
        });
        return services;
    }

    /// <summary>Applies forwarded headers from trusted proxies; with none configured, nothing is read from them.</summary>
    public static WebApplication UseForwardedClients(this WebApplication app)
    {
        if (app.Services.GetRequiredService<IOptions<HttpOptions>>().Value.TrustedProxies.Length > 0) app.UseForwardedHeaders();
        return app;
    }
}
