namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

public static partial class ShopifyExtensions
{
    /// <summary>Options, signatures, session tokens, the per-shop token store and the Shopify HTTP clients.</summary>
    public static IHostApplicationBuilder AddShopify(this IHostApplicationBuilder builder)
    {
        builder.Services.AddValidatedOptions<ShopifyOptions, ShopifyOptionsValidator>(ShopifyOptions.Section);
        // The CLI's variable names; AddSandbox() registers its placeholder credentials after this, for what is still empty.
        builder.Services.AddSingleton<IPostConfigureOptions<ShopifyOptions>, ShopifyCliEnvironment>();
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
        builder.Services.AddSingleton<AccessTokenCache>();

        builder.AddShopifySessionTokens();
        return builder;
    }

    private static void TryAddTimeProvider(this IServiceCollection services)
    {
        if (services.All(d => d.ServiceType != typeof(TimeProvider))) services.AddSingleton(TimeProvider.System);
    }
}
