namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// A merchant's campaigns: one code discount for everyone or listed customers, its editable fields, and the other
/// codes added in bulk (up to 250 per call) and polled until Shopify is done with them.
/// </summary>
public sealed partial class ShopifyDiscounts
{
    public sealed record CampaignDiscount(string Code, string Title, string DiscountType, decimal Value, DateTimeOffset StartsAt,
        DateTimeOffset? EndsAt, int? UsageLimit, bool OncePerCustomer, decimal? MinimumSubtotal, bool CombinesProduct, bool CombinesOrder,
        bool CombinesShipping, IReadOnlyList<long>? CustomerIds, string? SegmentId = null);

    /// <summary>A percentage or fixed-amount code discount for everyone, listed customers or a customer segment; returns its id.</summary>
    public async Task<string> CreateCampaignDiscountAsync(string shop, CampaignDiscount c, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var input = Input(c);
        input["code"] = c.Code;
        input["context"] = c.SegmentId is { } segment ? new { customerSegments = new { add = new[] { segment } } }
            : c.CustomerIds is { Count: > 0 } ids ? new { customers = new { add = ids.Select(CustomerGid).ToArray() } }
            : new { all = "ALL" };
        var data = await graphql.MutateAsync(shop, CreateMutation, new { input }, maxThrottleWait, ct);
        return CreatedId(data);
    }

    /// <summary>
    /// Sets every field a merchant may edit on a campaign's discount (its code stays): <paramref name="c"/> is the campaign as it is to
    /// be. Who may use it changes relative to <paramref name="customersBefore"/> (null: everyone): Shopify adds and removes customers
    /// from the current list, or opens the discount to all; <paramref name="customersMaybe"/>, those an edit whose answer was lost may
    /// have added, are removed too unless wanted. A minimum subtotal that is no longer wanted is removed by setting it null. A discount
    /// limited to a customer segment (<paramref name="segmentLimited"/>) keeps its context untouched.
    /// </summary>
    public async Task UpdateCampaignDiscountAsync(string shop, string discountId, CampaignDiscount c, IReadOnlyList<long>? customersBefore,
        IReadOnlyList<long>? customersMaybe, bool segmentLimited, CancellationToken ct)
    {
        var input = Input(c);
        input["minimumRequirement"] ??= new { subtotal = new { greaterThanOrEqualToSubtotal = (string?)null },
            quantity = new { greaterThanOrEqualToQuantity = (string?)null } };
        // A segment-limited discount keeps the context set at creation: sending one here would replace it.
        if (!segmentLimited && c.CustomerIds is { Count: > 0 } after)
        {
            var before = customersBefore ?? [];
            input["context"] = new { customers = new { add = after.Except(before).Select(CustomerGid).ToArray(),
                remove = before.Union(customersMaybe ?? []).Except(after).Select(CustomerGid).ToArray() } };
        }
        else if (!segmentLimited)
        {
            input["context"] = new { all = "ALL" };
        }
        var data = await graphql.MutateAsync(shop, UpdateMutation, new { id = discountId, input }, ct);
        ThrowOnUserErrors("discountCodeBasicUpdate", Field(data, "discountCodeBasicUpdate"));
    }

    /// <summary>
    /// A segment-limited discount moved onto <paramref name="segment"/>, off <paramref name="old"/> (gone) when known; nothing else
    /// changes. A discount that no longer exists counts as moved.
    /// </summary>
    public async Task MoveToSegmentAsync(string shop, string discountId, string? old, string segment, CancellationToken ct)
    {
        var input = new { context = new { customerSegments = new { add = new[] { segment }, remove = old is null ? [] : new[] { old } } } };
        var data = await graphql.MutateAsync(shop, UpdateMutation, new { id = discountId, input }, ct);
        var errors = UserErrors(Field(data, "discountCodeBasicUpdate"));
        if (errors.Count > 0 && !errors.All(IsGone)) throw new ShopifyUserErrorException("discountCodeBasicUpdate", errors);
    }

    private const string UpdateMutation = """
        mutation UpdateCampaign($id: ID!, $input: DiscountCodeBasicInput!) {
          discountCodeBasicUpdate(id: $id, basicCodeDiscount: $input) { codeDiscountNode { id } userErrors { field code message } }
        }
        """;

    private static string CustomerGid(long id) => $"gid://shopify/Customer/{id}";

    /// <summary>The discount's fields as <c>DiscountCodeBasicInput</c>, without its code and who may use it.</summary>
    private static Dictionary<string, object?> Input(CampaignDiscount c)
    {
        object value = c.DiscountType == "percentage"
            ? new { percentage = (double)(c.Value / 100m) }
            : new { discountAmount = new { amount = c.Value.ToString("0.00", CultureInfo.InvariantCulture), appliesOnEachItem = false } };
        return new Dictionary<string, object?>
        {
            ["title"] = c.Title,
            ["startsAt"] = c.StartsAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["endsAt"] = c.EndsAt?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["usageLimit"] = c.UsageLimit,
            ["appliesOncePerCustomer"] = c.OncePerCustomer,
            ["customerGets"] = new { value, items = new { all = true } },
            ["combinesWith"] = new { productDiscounts = c.CombinesProduct, orderDiscounts = c.CombinesOrder, shippingDiscounts = c.CombinesShipping },
            ["minimumRequirement"] = c.MinimumSubtotal is { } min
                ? new { subtotal = new { greaterThanOrEqualToSubtotal = min.ToString("0.00", CultureInfo.InvariantCulture) } }
                : null,
        };
    }

    /// <summary>Adds up to 250 codes to a discount, asynchronously; returns the bulk creation id to poll.</summary>
    public async Task<string> BulkAddCodesAsync(string shop, string discountId, IReadOnlyList<string> codes, CancellationToken ct)
    {
        if (codes.Count is 0 or > 250) throw new ArgumentOutOfRangeException(nameof(codes), "1 to 250 codes per call.");
        var data = await graphql.MutateAsync(shop, """
            mutation AddCampaignCodes($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
              discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) { bulkCreation { id } userErrors { field code message } }
            }
            """, new { discountId, codes = codes.Select(code => new { code }).ToArray() }, ct);
        var payload = Field(data, "discountRedeemCodeBulkAdd");
        ThrowOnUserErrors("discountRedeemCodeBulkAdd", payload);
        return Read<CodesAdded>(payload).BulkCreation?.Id ?? throw new ShopifyGraphQLException("discountRedeemCodeBulkAdd returned no id.", null);
    }

    public sealed record BulkCreation(bool Done, int Imported, int Failed, IReadOnlyDictionary<string, string> Errors);

    /// <summary>Where a bulk creation stands; when done with failures, the failed codes and why.</summary>
    public async Task<BulkCreation> BulkCreationAsync(string shop, string bulkCreationId, CancellationToken ct)
    {
        var errors = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? after = null;
        while (true)
        {
            var data = await graphql.QueryAsync(shop, """
                query CampaignCodesStatus($id: ID!, $after: String) {
                  discountRedeemCodeBulkCreation(id: $id) {
                    done importedCount failedCount
                    codes(first: 250, after: $after) { pageInfo { hasNextPage endCursor } nodes { code errors { code message } } }
                  }
                }
                """, new { id = bulkCreationId, after }, ct);
            var payload = Field(data, "discountRedeemCodeBulkCreation");
            var bulk = Read<BulkStatus>(payload);
            if (!bulk.Done || bulk.FailedCount == 0) return new BulkCreation(bulk.Done, bulk.ImportedCount, bulk.FailedCount, errors);
            var page = Read<BulkFailures>(payload).Codes;
            foreach (var node in page.Nodes)
            {
                if (node.Errors is { Count: > 0 } e) errors[node.Code!] = string.Join("; ", e.Select(x => x.Message));
            }
            if (!page.PageInfo.HasNextPage) return new BulkCreation(true, bulk.ImportedCount, bulk.FailedCount, errors);
            after = page.PageInfo.EndCursor;
        }
    }

    private sealed record CodesAdded
    {
        public required IdNode? BulkCreation { get; init; }
    }

    private sealed record BulkStatus
    {
        public required bool Done { get; init; }
        public required int ImportedCount { get; init; }
        public required int FailedCount { get; init; }
    }

    /// <summary>The codes of a bulk creation, read only once it is done with failures (as before: only then are they looked at).</summary>
    private sealed record BulkFailures
    {
        public required BulkCodes Codes { get; init; }
    }

    private sealed record BulkCodes
    {
        public required PageInfo PageInfo { get; init; }
        public required List<BulkCode> Nodes { get; init; }
    }

    private sealed record BulkCode(string? Code, List<CodeError>? Errors);

    private sealed record CodeError(string? Message);
}
