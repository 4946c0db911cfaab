using Loyalty.ShopifyApp.Features.Events;
using Loyalty.ShopifyApp.Features.Pending;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// Settings that lift the guard on merchant-entered URLs, for the sandbox's local simulators and the tests:
/// <c>Pos:AllowPrivateNetworks</c> and <c>Events:AllowInsecureEndpoints</c> (URLs may reach this host and its private networks)
/// and <c>Settings:AllowInsecurePosUrls</c> (POS API keys sent over plain http). On in a deployment, any of them lets a
/// merchant's URL reach into the network the app runs in, so start-up fails outside Development with a sentence naming the
/// setting, as it does for the sandbox itself (<see cref="SandboxGuard"/>).
/// </summary>
public sealed class DevelopmentOnlySettings(IHostEnvironment environment)
    : IValidateOptions<PosClientOptions>, IValidateOptions<EventOptions>, IValidateOptions<SettingsOptions>, IValidateOptions<ProgramClockOptions>
{
    public ValidateOptionsResult Validate(string? name, PosClientOptions options) => Check("Pos:AllowPrivateNetworks", options.AllowPrivateNetworks);

    public ValidateOptionsResult Validate(string? name, EventOptions options) =>
        Check("Events:AllowInsecureEndpoints", options.AllowInsecureEndpoints);

    public ValidateOptionsResult Validate(string? name, SettingsOptions options) =>
        Check("Settings:AllowInsecurePosUrls", options.AllowInsecurePosUrls);

    /// <summary>A program clock ahead of the real one would expire customers' points early in a deployment.</summary>
    public ValidateOptionsResult Validate(string? name, ProgramClockOptions options) => options.OffsetDays == 0 || environment.IsDevelopment()
        ? ValidateOptionsResult.Success
        : ValidateOptionsResult.Fail($"ProgramClock:OffsetDays is {options.OffsetDays} in the {environment.EnvironmentName} environment, but it "
                                     + "moves the points program's time ahead (points would expire early), for the soak only: it is accepted in "
                                     + "Development alone. Remove ProgramClock:OffsetDays (ProgramClock__OffsetDays).");

    private ValidateOptionsResult Check(string setting, bool on) => !on || environment.IsDevelopment()
        ? ValidateOptionsResult.Success
        : ValidateOptionsResult.Fail($"{setting} is on in the {environment.EnvironmentName} environment, but it lets merchant-entered URLs "
                                     + "reach this host, its private networks or plain http, for the local sandbox and tests only: it is "
                                     + $"accepted in Development alone. Remove {setting} ({setting.Replace(":", "__", StringComparison.Ordinal)}).");
}
