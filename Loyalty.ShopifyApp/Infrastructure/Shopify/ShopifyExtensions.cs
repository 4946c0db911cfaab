using Microsoft.Extensions.Options;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

public static partial class ShopifyExtensions
{
    /// <summary>Options, signatures, session tokens, the per-shop token store and the Shopify HTTP clients.</summary>
    public static IHostApplicationBuilder AddShopify(this IHostApplicationBuilder builder)
    {
        builder.Services.AddOptions<ShopifyOptions>().BindConfiguration(ShopifyOptions.Section).ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<ShopifyOptions>, ShopifyOptionsValidator>();
        // Order matters: the CLI's variable names first, then the sandbox fallback for what is still empty.
        builder.Services.AddSingleton<IPostConfigureOptions<ShopifyOptions>, ShopifyCliEnvironment>();
        builder.Services.AddSingleton<IPostConfigureOptions<ShopifyOptions>, SandboxCredentials>();
        builder.Services.TryAddTimeProvider();
        builder.Services.AddSingleton<ShopifyCostBucket>(); // one estimate per shop for the whole instance
        builder.Services.AddSingleton<ShopifyMetrics>();

        // Both read whole answers (HttpCompletionOption.ResponseContentRead), which MaxResponseContentBufferSize bounds.
        builder.Services.AddHttpClient<ShopifyOAuthClient>((sp, http) =>
        {
            var o = sp.GetRequiredService<IOptions<ShopifyOptions>>().Value;
            http.Timeout = TimeSpan.FromSeconds(o.OAuthTimeoutSeconds);
            http.MaxResponseContentBufferSize = o.MaxResponseBytes;
        });
        builder.Services.AddHttpClient<ShopifyGraphQLClient>((sp, http) =>
        {
            var o = sp.GetRequiredService<IOptions<ShopifyOptions>>().Value;
            http.Timeout = TimeSpan.FromSeconds(o.GraphQLTimeoutSeconds);
            http.MaxResponseContentBufferSize = o.MaxResponseBytes;
        });
        // Transient: these hold typed HttpClients, whose handlers the factory must be free to rotate.
        builder.Services.AddTransient<AccessTokens>();
        builder.Services.AddHostedService<SandboxBanner>();

        builder.AddShopifySessionTokens();
        return builder;
    }

    private static void TryAddTimeProvider(this IServiceCollection services)
    {
        if (services.All(d => d.ServiceType != typeof(TimeProvider))) services.AddSingleton(TimeProvider.System);
    }

    /// <summary>
    /// With no credentials configured, and only in Development, the app runs as a local sandbox with
    /// placeholder credentials that no real shop will ever sign with. Anywhere else the validator fails start-up.
    /// </summary>
    private sealed class SandboxCredentials(IHostEnvironment environment, IConfiguration configuration) : IPostConfigureOptions<ShopifyOptions>
    {
        public void PostConfigure(string? name, ShopifyOptions o)
        {
            if (!environment.IsDevelopment() || !string.IsNullOrWhiteSpace(o.ApiKey) || !string.IsNullOrWhiteSpace(o.ApiSecret)) return;
            o.Sandbox = true;
            o.ApiKey = Loyalty.ShopifyApp.Sandbox.SandboxMode.ClientId;
            o.ApiSecret = Loyalty.ShopifyApp.Sandbox.SandboxMode.ClientSecret;
            if (string.IsNullOrWhiteSpace(o.AppUrl)) o.AppUrl = "http://localhost:5080";
            // Every per-shop call goes to the local Shopify simulator.
            if (o.AdminUrlTemplate == "https://{shop}")
            {
                o.AdminUrlTemplate = $"http://127.0.0.1:{configuration.GetValue("Sandbox:ShopifyPort", 5081)}/{{shop}}";
            }
        }
    }

    private sealed partial class SandboxBanner(IOptions<ShopifyOptions> options, ILogger<SandboxBanner> logger) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (options.Value.Sandbox) LogSandbox();
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        [LoggerMessage(Level = LogLevel.Warning, Message =
            "SANDBOX MODE: no Shopify credentials are configured, so placeholder ones are in use, Shopify and the POS are local simulators, " +
            "and no real shop can reach this app. Set SHOPIFY_API_KEY, SHOPIFY_API_SECRET and SHOPIFY_APP_URL to connect a real app.")]
        private partial void LogSandbox();
    }
}
