using Loyalty.ShopifyApp.Features.Events;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// Settings that lift the guard on merchant-entered URLs, for the sandbox's local simulators and the tests:
/// <c>Pos:AllowPrivateNetworks</c> and <c>Events:AllowInsecureEndpoints</c> (URLs may reach this host and its private networks)
/// and <c>Settings:AllowInsecurePosUrls</c> (POS API keys sent over plain http). On in a deployment, any of them lets a
/// merchant's URL reach into the network the app runs in, so start-up fails outside Development with a sentence naming the
/// setting, as it does for the sandbox itself (<see cref="SandboxGuard"/>).
/// </summary>
public sealed class DevelopmentOnlySettings(IHostEnvironment environment)
    : IValidateOptions<PosClientOptions>, IValidateOptions<EventOptions>, IValidateOptions<SettingsOptions>
{
    public ValidateOptionsResult Validate(string? name, PosClientOptions options) => Check("Pos:AllowPrivateNetworks", options.AllowPrivateNetworks);

    public ValidateOptionsResult Validate(string? name, EventOptions options) =>
        Check("Events:AllowInsecureEndpoints", options.AllowInsecureEndpoints);

    public ValidateOptionsResult Validate(string? name, SettingsOptions options) =>
        Check("Settings:AllowInsecurePosUrls", options.AllowInsecurePosUrls);

    private ValidateOptionsResult Check(string setting, bool on) => !on || environment.IsDevelopment()
        ? ValidateOptionsResult.Success
        : ValidateOptionsResult.Fail($"{setting} is on in the {environment.EnvironmentName} environment, but it lets merchant-entered URLs "
                                     + "reach this host, its private networks or plain http, for the local sandbox and tests only: it is "
                                     + $"accepted in Development alone. Remove {setting} ({setting.Replace(":", "__", StringComparison.Ordinal)}).");
}
