namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>
/// The discount operations of the GraphQL Admin API the app uses, typed (a merchant's campaigns are in
/// <c>ShopifyDiscounts.Campaigns.cs</c>, the customer's coupons metafield in <c>.CouponsMetafield.cs</c>). The legacy REST
/// price rules map to <c>discountCodeBasicCreate</c>: one code, a fixed amount, for one customer. Each answer's payload is
/// read into a small record; a field the code relies on is <c>required</c>, so an answer without it fails loudly.
/// </summary>
public sealed partial class ShopifyDiscounts(ShopifyGraphQLClient graphql)
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
    public async Task<string> CreateCustomerCodeAsync(string shop, CustomerCode c, Func<CancellationToken, Task> beforeSend,
        TimeSpan? maxThrottleWait, CancellationToken ct)
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
        return CreatedId(data);
    }

    private static string CreatedId(JsonElement data)
    {
        var payload = Field(data, "discountCodeBasicCreate");
        ThrowOnUserErrors("discountCodeBasicCreate", payload);
        return Read<CodeCreated>(payload).CodeDiscountNode?.Id ?? throw new ShopifyGraphQLException("discountCodeBasicCreate returned no id.", null);
    }

    /// <summary>
    /// Suspends a code discount; Shopify keeps it and its history, and checkout no longer accepts it. With
    /// <c>goneIsDone</c>, a discount that no longer exists counts as suspended.
    /// </summary>
    public Task DeactivateAsync(string shop, string discountId, CancellationToken ct) =>
        DeactivateAsync(shop, discountId, null, goneIsDone: false, ct);

    /// <inheritdoc cref="DeactivateAsync(string, string, CancellationToken)"/>
    public async Task DeactivateAsync(string shop, string discountId, TimeSpan? maxThrottleWait, bool goneIsDone, CancellationToken ct)
    {
        var data = await graphql.MutateAsync(shop, """
            mutation DeactivateCampaign($id: ID!) {
              discountCodeDeactivate(id: $id) { codeDiscountNode { id } userErrors { field code message } }
            }
            """, new { id = discountId }, maxThrottleWait, ct);
        var errors = UserErrors(Field(data, "discountCodeDeactivate"));
        if (errors.Count > 0 && !(goneIsDone && errors.All(IsGone))) throw new ShopifyUserErrorException("discountCodeDeactivate", errors);
    }

    private static bool IsGone((string? Code, string Message) e) =>
        e.Message.Contains("does not exist", StringComparison.OrdinalIgnoreCase) || e.Code == "NOT_FOUND";

    /// <summary>Deletes a code discount; a discount that no longer exists counts as deleted.</summary>
    public Task DeleteAsync(string shop, string discountId, CancellationToken ct) => DeleteAsync(shop, discountId, null, ct);

    /// <inheritdoc cref="DeleteAsync(string, string, CancellationToken)"/>
    public async Task DeleteAsync(string shop, string discountId, TimeSpan? maxThrottleWait, CancellationToken ct)
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
    public Task<FoundCode?> FindByCodeAsync(string shop, string code, CancellationToken ct) => FindByCodeAsync(shop, code, null, ct);

    /// <inheritdoc cref="FindByCodeAsync(string, string, CancellationToken)"/>
    /// <remarks>
    /// Read field by field, leniently: a lookup answers for a customer's or merchant's check and a saga's decision, and a
    /// field of an unexpected kind reads as absent rather than failing the lookup.
    /// </remarks>
    public async Task<FoundCode?> FindByCodeAsync(string shop, string code, TimeSpan? maxThrottleWait, CancellationToken ct)
    {
        var data = await graphql.QueryAsync(shop, """
            query FindLoyaltyCode($code: String!) {
              codeDiscountNodeByCode(code: $code) { id codeDiscount { ... on DiscountCodeBasic { title status asyncUsageCount usageLimit } } }
            }
            """, new { code }, maxThrottleWait, ct);
        if (!data.TryGetProperty("codeDiscountNodeByCode", out var node) || node.ValueKind != JsonValueKind.Object) return null;
        var d = node.TryGetProperty("codeDiscount", out var cd) && cd.ValueKind == JsonValueKind.Object ? cd : default;
        string? Text(string name) => d.ValueKind == JsonValueKind.Object && d.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String
            ? v.GetString() : null;
        int? Number(string name) => d.ValueKind == JsonValueKind.Object && d.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number
            ? v.GetInt32() : null;
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
        var page = Read<CodeNodes>(Field(data, "codeDiscountNodes"));
        var codes = new List<ListedCode>();
        foreach (var node in page.Nodes)
        {
            if (node.CodeDiscount is not { Title: { } title } d) continue;
            codes.Add(new ListedCode(node.Id, title, d.Codes?.Nodes is [var listed, ..] ? listed.Code : null, d.AsyncUsageCount ?? 0, d.Status));
        }
        return new CodePage(codes, page.PageInfo.EndCursor, page.PageInfo.HasNextPage);
    }

    /// <summary>A top-level field of an answer; an answer without it is not the one asked for (a proxy's page, a changed API).</summary>
    private static JsonElement Field(JsonElement data, string name) =>
        data.ValueKind == JsonValueKind.Object && data.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Object
            ? value
            : throw new ShopifyGraphQLException($"Shopify's answer has no {name}.", "UNEXPECTED_ANSWER");

    /// <summary>An answer's payload (an object, see <see cref="Field"/>) as the record of its shape.</summary>
    private static T Read<T>(JsonElement payload) => payload.Deserialize<T>(Json)!;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

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

    // The payloads' shapes, as the documents above ask for them.
    private sealed record IdNode(string? Id);

    private sealed record CodeCreated
    {
        public required IdNode? CodeDiscountNode { get; init; }
    }

    /// <summary>A page's position; the cursor is read only where there is a next page.</summary>
    private sealed record PageInfo
    {
        public required bool HasNextPage { get; init; }
        public string? EndCursor { get; init; }
    }

    private sealed record CodeNodes
    {
        public required PageInfo PageInfo { get; init; }
        public required List<ListedNode> Nodes { get; init; }
    }

    private sealed record ListedNode
    {
        public required string Id { get; init; }
        public ListedDiscount? CodeDiscount { get; init; }
    }

    /// <summary>A <c>DiscountCodeBasic</c>; a discount of another type answers an empty object (no title), and is not ours.</summary>
    private sealed record ListedDiscount(string? Title, string? Status, int? AsyncUsageCount, CodeList? Codes);

    private sealed record CodeList(List<CodeOnly>? Nodes);

    private sealed record CodeOnly(string? Code);
}
