namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// What a campaign's discount may be, the same when it is created (<see cref="CreateCampaign"/>) and edited
/// (<see cref="EditCampaign"/>): each check adds the field's message to <c>errors</c> and says whether the value passed.
/// </summary>
internal static class CampaignRules
{
    public delegate void AddError(string field, string message);

    public static void Value(decimal? percentage, decimal? fixedAmount, AddError add)
    {
        if (percentage is { } p && (p <= 0 || p > 100 || !CreateCampaign.FitsPercentage(p)))
        {
            add("percentage", "Must be more than 0 and at most 100, with at most 4 decimals.");
        }
        if (fixedAmount is { } f && (f <= 0 || f > 1_000_000 || decimal.Round(f, 2) != f))
        {
            add("fixedAmount", "Must be more than 0 (shop currency, 2 decimals).");
        }
    }

    public static void Title(string title, AddError add)
    {
        if (StoredText.HasNul(title)) add("title", StoredText.NulRule);
        else if (title.Length is 0 or > 255) add("title", "A title of 1-255 characters is required.");
    }

    public static void UsageLimit(int? usageLimit, AddError add)
    {
        if (usageLimit is < 1) add("usageLimit", "Must be at least 1 when given.");
    }

    public static void MinimumSubtotal(decimal? minimum, AddError add)
    {
        if (minimum is { } m && (m <= 0 || m > CreateCampaign.MaxAmount || decimal.Round(m, 2) != m))
        {
            add("minimumSubtotal", "Must be more than 0 and at most 1,000,000,000 when given (shop currency, 2 decimals).");
        }
    }

    public static void CustomerIds(long[]? ids, AddError add)
    {
        if (ids is { } list && (list.Distinct().Count() > 250 || list.Any(id => id <= 0)))
        {
            add("customerIds", "Up to 250 positive customer ids (or none for everyone).");
        }
    }
}
