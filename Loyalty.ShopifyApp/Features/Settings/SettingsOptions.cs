namespace Loyalty.ShopifyApp.Features.Settings;

/// <summary>Section <c>Settings</c>.</summary>
public sealed class SettingsOptions
{
    public const string Section = "Settings";

    /// <summary>Accept http:// POS URLs (the local sandbox and tests; refused at start-up outside Development); production POS URLs must be
    /// https.</summary>
    public bool AllowInsecurePosUrls { get; set; }
}
