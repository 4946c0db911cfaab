namespace Loyalty.ShopifyApp.Features.Settings;

public static class SettingsFeature
{
    /// <summary>
    /// What the app allows of a shop's settings (<see cref="SettingsOptions"/>); the settings themselves are per shop, in the
    /// database. The section has no ranges to check; outside Development the sandbox's guard refuses its switch at start-up.
    /// </summary>
    public static IServiceCollection AddSettings(this IServiceCollection services)
    {
        services.AddOptions<SettingsOptions>().BindConfiguration(SettingsOptions.Section).ValidateOnStart();
        return services;
    }
}
