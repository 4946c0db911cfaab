using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>A mutation's <c>userErrors</c>: Shopify refused the request itself (not an outage).</summary>
public sealed class ShopifyUserErrorException(string operation, IReadOnlyList<(string? Code, string Message)> errors)
    : Exception($"{operation}: {string.Join("; ", errors.Select(e => $"{e.Code}: {e.Message}"))}")
{
    public IReadOnlyList<(string? Code, string Message)> Errors { get; } = errors;

    public bool Has(string code) => Errors.Any(e => e.Code == code);
}

/// <summary>
/// The discount and customer-metafield operations of the GraphQL Admin API the app uses, typed. The legacy
/// REST price rules map to <c>discountCodeBasicCreate</c>: one code, a fixed amount, for one customer.
/// </summary>
public sealed class ShopifyDiscounts(ShopifyGraphQLClient graphql)
{
    public sealed record CustomerCode(string Code, string Title, decimal Amount, long CustomerId, DateTimeOffset StartsAt, DateTimeOffset EndsAt);

    private const string CreateMutation = """
        mutation CreateLoyaltyCode($input: DiscountCodeBasicInput!) {
          discountCodeBasicCreate(basicCodeDiscount: $input) {
            codeDiscountNode { id }
            userErrors { field code message }
          }
        }
        """;

    /// <summary>
    /// Creates a single-use, customer-only, fixed-amount code; returns the DiscountCodeNode id. <paramref name="beforeSend"/>
    /// runs before each send of the mutation (the first and any resend after a throttle).
    /// </summary>
    public async Task<string> CreateCustomerCodeAsync(string shop, CustomerCode c, Func<CancellationToken, Task> beforeSend, CancellationToken ct,
        TimeSpan? maxThrottleWait = null)
    {
        var input = new
        {
            title = c.Title,
            code = c.Code,
            startsAt = c.StartsAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            endsAt = c.EndsAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            usageLimit = 1,
            appliesOncePerCustomer = true,
            context = new { customers = new { add = new[] { $"gid://shopify/Customer/{c.CustomerId}" } } },
            customerGets = new
            {
                value = new { discountAmount = new { amount = c.Amount.ToString("0.00", CultureInfo.InvariantCulture), appliesOnEachItem = false } },
                items = new { all = true },
            },
            combinesWith = new { orderDiscounts = false, productDiscounts = true, shippingDiscounts = true },
        };
        var data = await graphql.MutateAsync(shop, CreateMutation, new { input }, maxThrottleWait, beforeSend, ct);
        var payload = Field(data, "discountCodeBasicCreate");
        ThrowOnUserErrors("discountCodeBasicCreate", payload);
        return payload.GetProperty("codeDiscountNode").GetProperty("id").GetString()
               ?? throw new ShopifyGraphQLException("discountCodeBasicCreate returned no id.", null);
    }

    public sealed record CampaignDiscount(string Code, string Title, string DiscountType, decimal Value, DateTimeOffset StartsAt,
        DateTimeOffset? EndsAt, int? UsageLimit, bool OncePerCustomer, decimal? MinimumSubtotal, bool CombinesProduct, bool CombinesOrder,
        bool CombinesShipping, IReadOnlyList<long>? CustomerIds);

    /// <summary>A percentage or fixed-amount code discount for everyone or listed customers; returns its id.</summary>
    public async Task<string> CreateCampaignDiscountAsync(string shop, CampaignDiscount c, CancellationToken ct, TimeSpan? maxThrottleWait = null)
    {
        object value = c.DiscountType == "percentage"
            ? new { percentage = (double)(c.Value / 100m) }
            : new { discountAmount = new { amount = c.Value.ToString("0.00", CultureInfo.InvariantCulture), appliesOnEachItem = false } };
        object context = c.CustomerIds is { Count: > 0 } ids
            ? new { customers = new { add = ids.Select(id => $"gid://shopify/Customer/{id}").ToArray() } }
            : new { all = "ALL" };
        var input = new Dictionary<string, object?>
        {
            ["title"] = c.Title,
            ["code"] = c.Code,
            ["startsAt"] = c.StartsAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["endsAt"] = c.EndsAt?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture),
            ["usageLimit"] = c.UsageLimit,
            ["appliesOncePerCustomer"] = c.OncePerCustomer,
            ["context"] = context,
            ["customerGets"] = new { value, items = new { all = true } },
            ["combinesWith"] = new { productDiscounts = c.CombinesProduct, orderDiscounts = c.CombinesOrder, shippingDiscounts = c.CombinesShipping },
            ["minimumRequirement"] = c.MinimumSubtotal is { } min
                ? new { subtotal = new { greaterThanOrEqualToSubtotal = min.ToString("0.00", CultureInfo.InvariantCulture) } }
                : null,
        };
        var data = await graphql.MutateAsync(shop, CreateMutation, new { input }, maxThrottleWait, ct);
        var payload = Field(data, "discountCodeBasicCreate");
        ThrowOnUserErrors("discountCodeBasicCreate", payload);
        return payload.GetProperty("codeDiscountNode").GetProperty("id").GetString()
               ?? throw new ShopifyGraphQLException("discountCodeBasicCreate returned no id.", null);
    }

    /// <summary>Changes a code discount's title, end and usage limit (the fields a merchant may edit on a campaign).</summary>
    public async Task UpdateCampaignDiscountAsync(string shop, string discountId, string title, DateTimeOffset? endsAt, int? usageLimit, CancellationToken ct)
    {
        var data = await graphql.MutateAsync(shop, """
            mutation UpdateCampaign($id: ID!, $input: DiscountCodeBasicInput!) {
              discountCodeBasicUpdate(id: $id, basicCodeDiscount: $input) { codeDiscountNode { id } userErrors { field code message } }
            }
            """, new
        {
            id = discountId,
            input = new { title, endsAt = endsAt?.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture), usageLimit },
        }, ct);
        ThrowOnUserErrors("discountCodeBasicUpdate", Field(data, "discountCodeBasicUpdate"));
    }

    /// <summary>
    /// Suspends a code discount; Shopify keeps it and its history, and checkout no longer accepts it. With
    /// <paramref name="goneIsDone"/>, a discount that no longer exists counts as suspended.
    /// </summary>
    public async Task DeactivateAsync(string shop, string discountId, CancellationToken ct, TimeSpan? maxThrottleWait = null, bool goneIsDone = false)
    {
        var data = await graphql.MutateAsync(shop, """
            mutation DeactivateCampaign($id: ID!) {
              discountCodeDeactivate(id: $id) { codeDiscountNode { id } userErrors { field code message } }
            }
            """, new { id = discountId }, maxThrottleWait, ct);
        var errors = UserErrors(Field(data, "discountCodeDeactivate"));
        if (errors.Count > 0 && !(goneIsDone && errors.All(IsGone))) throw new ShopifyUserErrorException("discountCodeDeactivate", errors);
    }

    private static bool IsGone((string? Code, string Message) e) => e.Message.Contains("does not exist", StringComparison.OrdinalIgnoreCase) || e.Code == "NOT_FOUND";

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
        return payload.GetProperty("bulkCreation").GetProperty("id").GetString()
               ?? throw new ShopifyGraphQLException("discountRedeemCodeBulkAdd returned no id.", null);
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
            var bulk = Field(data, "discountRedeemCodeBulkCreation");
            var done = bulk.GetProperty("done").GetBoolean();
            var failed = bulk.GetProperty("failedCount").GetInt32();
            if (!done || failed == 0) return new BulkCreation(done, bulk.GetProperty("importedCount").GetInt32(), failed, errors);
            var page = bulk.GetProperty("codes");
            foreach (var node in page.GetProperty("nodes").EnumerateArray())
            {
                if (node.TryGetProperty("errors", out var e) && e.ValueKind == JsonValueKind.Array && e.GetArrayLength() > 0)
                {
                    errors[node.GetProperty("code").GetString()!] = string.Join("; ", e.EnumerateArray().Select(x => x.GetProperty("message").GetString()));
                }
            }
            if (!page.GetProperty("pageInfo").GetProperty("hasNextPage").GetBoolean())
            {
                return new BulkCreation(true, bulk.GetProperty("importedCount").GetInt32(), failed, errors);
            }
            after = page.GetProperty("pageInfo").GetProperty("endCursor").GetString();
        }
    }

    /// <summary>Deletes a code discount; a discount that no longer exists counts as deleted.</summary>
    public async Task DeleteAsync(string shop, string discountId, CancellationToken ct, TimeSpan? maxThrottleWait = null)
    {
        var data = await graphql.MutateAsync(shop, """
            mutation DeleteLoyaltyCode($id: ID!) {
              discountCodeDelete(id: $id) { deletedCodeDiscountId userErrors { field code message } }
            }
            """, new { id = discountId }, maxThrottleWait, ct);
        var payload = Field(data, "discountCodeDelete");
        var errors = UserErrors(payload);
        if (errors.Count > 0 && !errors.All(IsGone))
        {
            throw new ShopifyUserErrorException("discountCodeDelete", errors);
        }
    }

    /// <summary>A code discount as Shopify sees it; status is ACTIVE, EXPIRED or SCHEDULED when Shopify says.</summary>
    public sealed record FoundCode(string Id, string? Title, string? Status = null, int? UsageCount = null, int? UsageLimit = null);

    /// <summary>The code discount that carries <paramref name="code"/> (case-insensitive), or null.</summary>
    public async Task<FoundCode?> FindByCodeAsync(string shop, string code, CancellationToken ct, TimeSpan? maxThrottleWait = null)
    {
        var data = await graphql.QueryAsync(shop, """
            query FindLoyaltyCode($code: String!) {
              codeDiscountNodeByCode(code: $code) { id codeDiscount { ... on DiscountCodeBasic { title status asyncUsageCount usageLimit } } }
            }
            """, new { code }, maxThrottleWait, ct);
        if (!data.TryGetProperty("codeDiscountNodeByCode", out var node) || node.ValueKind != JsonValueKind.Object) return null;
        var d = node.TryGetProperty("codeDiscount", out var cd) && cd.ValueKind == JsonValueKind.Object ? cd : default;
        string? Text(string name) => d.ValueKind == JsonValueKind.Object && d.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
        int? Number(string name) => d.ValueKind == JsonValueKind.Object && d.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
        return new FoundCode(node.GetProperty("id").GetString()!, Text("title"), Text("status"), Number("asyncUsageCount"), Number("usageLimit"));
    }

    public sealed record ListedCode(string Id, string Title, string? Code, int UsageCount, string? Status);

    public sealed record CodePage(IReadOnlyList<ListedCode> Codes, string? EndCursor, bool HasNextPage);

    /// <summary>One page of the shop's code discounts whose title matches <paramref name="titleSearch"/> (Shopify's search syntax).</summary>
    public async Task<CodePage> ListCodesAsync(string shop, string titleSearch, int first, string? after, CancellationToken ct)
    {
        var data = await graphql.QueryAsync(shop, """
            query LoyaltyDiscounts($query: String!, $first: Int!, $after: String) {
              codeDiscountNodes(first: $first, after: $after, query: $query) {
                pageInfo { hasNextPage endCursor }
                nodes { id codeDiscount { ... on DiscountCodeBasic { title status asyncUsageCount codes(first: 1) { nodes { code } } } } }
              }
            }
            """, new { query = titleSearch, first, after }, ct);
        var page = Field(data, "codeDiscountNodes");
        var codes = new List<ListedCode>();
        foreach (var node in page.GetProperty("nodes").EnumerateArray())
        {
            if (!node.TryGetProperty("codeDiscount", out var d) || d.ValueKind != JsonValueKind.Object
                || !d.TryGetProperty("title", out var title) || title.ValueKind != JsonValueKind.String) continue;
            var code = d.TryGetProperty("codes", out var cs) && cs.TryGetProperty("nodes", out var ns) && ns.GetArrayLength() > 0
                ? ns[0].GetProperty("code").GetString() : null;
            codes.Add(new ListedCode(node.GetProperty("id").GetString()!, title.GetString()!, code,
                d.TryGetProperty("asyncUsageCount", out var u) && u.ValueKind == JsonValueKind.Number ? u.GetInt32() : 0,
                d.TryGetProperty("status", out var st) && st.ValueKind == JsonValueKind.String ? st.GetString() : null));
        }
        var info = page.GetProperty("pageInfo");
        return new CodePage(codes, info.GetProperty("endCursor").GetString(), info.GetProperty("hasNextPage").GetBoolean());
    }

    public sealed record Metafield(JsonArray Items, string? CompareDigest);

    /// <summary>The customer's <c>loyalty.coupons</c> JSON list and its digest (null digest: no metafield yet).</summary>
    public async Task<Metafield> ReadCouponsAsync(string shop, long customerId, CancellationToken ct, TimeSpan? maxThrottleWait = null)
    {
        var data = await graphql.QueryAsync(shop, """
            query LoyaltyCoupons($id: ID!) {
              customer(id: $id) { metafield(namespace: "loyalty", key: "coupons") { value compareDigest } }
            }
            """, new { id = $"gid://shopify/Customer/{customerId}" }, maxThrottleWait, ct);
        if (!data.TryGetProperty("customer", out var customer) || customer.ValueKind != JsonValueKind.Object)
        {
            throw new ShopifyUserErrorException("customer", [("NOT_FOUND", $"customer {customerId} does not exist")]);
        }
        if (!customer.TryGetProperty("metafield", out var m) || m.ValueKind != JsonValueKind.Object) return new Metafield([], null);
        var items = JsonNode.Parse(m.GetProperty("value").GetString() ?? "[]") as JsonArray ?? [];
        return new Metafield(items, m.GetProperty("compareDigest").GetString());
    }

    /// <summary>
    /// Writes the list if nobody changed it since <paramref name="compareDigest"/> (STALE_OBJECT otherwise).
    /// <paramref name="beforeSend"/> runs before each send (the caller records that a write may be under way).
    /// </summary>
    public async Task WriteCouponsAsync(string shop, long customerId, JsonArray items, string? compareDigest,
        Func<CancellationToken, Task> beforeSend, CancellationToken ct, TimeSpan? maxThrottleWait = null)
    {
        var data = await graphql.MutateAsync(shop, """
            mutation SetLoyaltyCoupons($metafields: [MetafieldsSetInput!]!) {
              metafieldsSet(metafields: $metafields) { metafields { id } userErrors { field message code } }
            }
            """, new
        {
            metafields = new[]
            {
                new
                {
                    ownerId = $"gid://shopify/Customer/{customerId}", @namespace = "loyalty", key = "coupons", type = "json",
                    value = items.ToJsonString(), compareDigest,
                },
            },
        }, maxThrottleWait, beforeSend, ct);
        ThrowOnUserErrors("metafieldsSet", Field(data, "metafieldsSet"));
    }

    /// <summary>A top-level field of an answer; an answer without it is not the one asked for (a proxy's page, a changed API).</summary>
    private static JsonElement Field(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value
            : throw new ShopifyGraphQLException($"Shopify's answer has no {name}.", "UNEXPECTED_ANSWER");

    private static void ThrowOnUserErrors(string operation, JsonElement payload)
    {
        var errors = UserErrors(payload);
        if (errors.Count > 0) throw new ShopifyUserErrorException(operation, errors);
    }

    private static List<(string? Code, string Message)> UserErrors(JsonElement payload) =>
        payload.TryGetProperty("userErrors", out var e) && e.ValueKind == JsonValueKind.Array
            ? e.EnumerateArray().Select(x => (
                x.TryGetProperty("code", out var c) && c.ValueKind == JsonValueKind.String ? c.GetString() : null,
                x.TryGetProperty("message", out var m) ? m.GetString() ?? "" : "")).ToList()
            : [];
}
