namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// A campaign's row as the code that creates, edits and shows campaigns reads it (each selects the columns it needs).
/// Properties rather than a positional record: Npgsql reports bigint[] as System.Array, which Dapper's constructor
/// matching refuses but property assignment accepts.
/// </summary>
public record StoredCampaign
{
    public long Id { get; init; }
    public string ShopDomain { get; init; } = "";
    public string Title { get; init; } = "";
    public string DiscountType { get; init; } = "";
    public decimal Value { get; init; }
    public DateTimeOffset StartsAt { get; init; }
    public DateTimeOffset? EndsAt { get; init; }
    public int? UsageLimit { get; init; }
    public bool OncePerCustomer { get; init; }
    public decimal? MinimumSubtotal { get; init; }
    public bool CombinesProduct { get; init; }
    public bool CombinesOrder { get; init; }
    public bool CombinesShipping { get; init; }

    /// <summary>The customers who may use it; null: everyone.</summary>
    public long[]? CustomerIds { get; init; }

    /// <summary>The VIP tier whose members alone may use it (through the tier's Shopify customer segment); null: not limited to one.</summary>
    public long? TierId { get; init; }

    /// <summary>Customers an edit whose answer was lost may have added in Shopify.</summary>
    public long[]? CustomerIdsUnconfirmed { get; init; }

    public string State { get; init; } = "";
    public string? DiscountId { get; init; }
    public string? LastError { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }

    /// <summary>The discount Shopify is to hold for it: its title carries the campaign's id, so a lost create can be recognised. A tier's
    /// campaign is for the tier's <paramref name="segmentId"/>.</summary>
    public ShopifyDiscounts.CampaignDiscount Discount(string firstCode, string? segmentId = null) => new(firstCode,
        Title + CampaignGeneration.Marker(Id), DiscountType, Value, StartsAt, EndsAt, UsageLimit, OncePerCustomer, MinimumSubtotal, CombinesProduct,
        CombinesOrder, CombinesShipping, CustomerIds, segmentId);
}
