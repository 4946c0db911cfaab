using System.Net;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// The sandbox starts simulators, serves unauthenticated <c>/sandbox/*</c> pages (one of them hands out session tokens)
/// and installs a demo shop: it must never run against real credentials or outside a developer's machine. Start-up
/// fails, with a sentence saying what to change, when sandbox mode is on (however it was switched on, e.g.
/// <c>Shopify__Sandbox=true</c>) and
/// <list type="bullet">
/// <item>the environment is not Development; or</item>
/// <item>any configured credential is not the sandbox's own placeholder (<see cref="SandboxMode.ClientId"/>,
/// <see cref="SandboxMode.ClientSecret"/>, filled in by the app when none is configured): a real client secret would
/// sign the sandbox's session tokens and be handed to the simulators; or</item>
/// <item>Shopify calls would leave this machine (<c>Shopify:AdminUrlTemplate</c> not on a loopback address).</item>
/// </list>
/// </summary>
public sealed class SandboxGuard(IHostEnvironment environment) : IValidateOptions<ShopifyOptions>
{
    public ValidateOptionsResult Validate(string? name, ShopifyOptions o)
    {
        if (!o.Sandbox) return ValidateOptionsResult.Success;
        var errors = new List<string>();
        if (!environment.IsDevelopment())
        {
            errors.Add($"Shopify:Sandbox is on in the {environment.EnvironmentName} environment, but the sandbox (local simulators, placeholder "
                       + "credentials, unauthenticated /sandbox pages) runs only in Development. Remove Shopify:Sandbox (Shopify__Sandbox) and "
                       + "configure the app's credentials.");
        }
        if (o.ApiKey != SandboxMode.ClientId || o.ApiSecret != SandboxMode.ClientSecret || !string.IsNullOrEmpty(o.PreviousApiSecret))
        {
            errors.Add("Sandbox mode runs only with its own placeholder credentials, but Shopify credentials are configured "
                       + "(Shopify:ApiKey, Shopify:ApiSecret, Shopify:PreviousApiSecret, SHOPIFY_API_KEY or SHOPIFY_API_SECRET). "
                       + "Remove them to run the sandbox, or remove Shopify:Sandbox to connect the real app.");
        }
        if (!Uri.TryCreate(o.ShopBaseUrl("probe.myshopify.com"), UriKind.Absolute, out var url) || !IsLoopback(url))
        {
            errors.Add("Sandbox mode sends Shopify calls only to its local simulator, but Shopify:AdminUrlTemplate points elsewhere. "
                       + "Leave it at its default (https://{shop}) to run the sandbox.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static bool IsLoopback(Uri url) =>
        url.IsLoopback || IPAddress.TryParse(url.Host, out var ip) && IPAddress.IsLoopback(ip);
}
