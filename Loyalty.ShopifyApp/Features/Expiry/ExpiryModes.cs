namespace Loyalty.ShopifyApp.Features.Expiry;

/// <summary>When a shop's points expire (<c>shop_settings.expiry_mode</c>; migration 0029 holds the rules).</summary>
public static class ExpiryModes
{
    /// <summary>Points never expire: the default.</summary>
    public const string Never = "never";

    /// <summary>Each lot (a credit to the balance) expires <c>expiryMonths</c> after it was credited; spending takes the oldest first.</summary>
    public const string Earned = "earned";

    /// <summary>The whole balance expires <c>expiryMonths</c> after the customer's last earning or spending.</summary>
    public const string Inactivity = "inactivity";

    public static readonly string[] All = [Never, Earned, Inactivity];
}
