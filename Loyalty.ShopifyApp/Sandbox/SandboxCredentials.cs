namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// With no credentials configured, and only in Development, the app runs as a local sandbox with
/// placeholder credentials that no real shop will ever sign with. Anywhere else the validator fails start-up.
/// Registered after the Shopify CLI's variables (<see cref="ShopifyCliEnvironment"/>), so it fills in only what is still empty.
/// </summary>
internal sealed class SandboxCredentials(IHostEnvironment environment, IConfiguration configuration) : IPostConfigureOptions<ShopifyOptions>
{
    public void PostConfigure(string? name, ShopifyOptions o)
    {
        if (!environment.IsDevelopment() || !string.IsNullOrWhiteSpace(o.ApiKey) || !string.IsNullOrWhiteSpace(o.ApiSecret)) return;
        o.Sandbox = true;
        o.ApiKey = SandboxMode.ClientId;
        o.ApiSecret = SandboxMode.ClientSecret;
        if (string.IsNullOrWhiteSpace(o.AppUrl)) o.AppUrl = "http://localhost:5080";
        // Every per-shop call goes to the local Shopify simulator.
        if (o.AdminUrlTemplate == "https://{shop}")
        {
            o.AdminUrlTemplate = $"http://127.0.0.1:{configuration.GetValue("Sandbox:ShopifyPort", 5081)}/{{shop}}";
        }
    }
}
