namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>Where a campaign stands (<c>campaigns.state</c>).</summary>
public static class CampaignState
{
    /// <summary>Stored with its codes reserved; its discount is not known to be in Shopify yet. A run (now or in the background) finishes
    /// it.</summary>
    public const string Creating = "creating";

    /// <summary>The discount exists; the other codes are being added in batches.</summary>
    public const string Generating = "generating";

    public const string Active = "active";

    /// <summary>Shopify refused the discount (the reason is the last error); its codes are released. It can be retried.</summary>
    public const string Failed = "failed";

    /// <summary>Deactivated in Shopify, or given up before Shopify had it (then its codes are released).</summary>
    public const string Deactivated = "deactivated";

    public static readonly string[] All = [Creating, Generating, Active, Failed, Deactivated];
}

/// <summary>Where one code of a campaign stands (<c>campaign_codes.state</c>).</summary>
public static class CodeState
{
    public const string Pending = "pending";

    public const string Sent = "sent";

    public const string Created = "created";

    public const string Failed = "failed";

    /// <summary>Never in Shopify and no longer reserved: another campaign may use the code.</summary>
    public const string Released = "released";
}
