namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>Says loudly, once at start-up, that the app runs as the sandbox and cannot be reached by a real shop.</summary>
internal sealed partial class SandboxBanner(IOptions<ShopifyOptions> options, ILogger<SandboxBanner> logger) : IHostedService
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
