namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>PUT /api/admin/campaigns/{id}</c>: change what Shopify lets a code discount change — title, value (percentage or fixed
/// amount), start and end, usage limit, once per customer, minimum subtotal, combinations and eligible customers — through
/// <c>discountCodeBasicUpdate</c>. A field left out stays as it is; <c>clear</c> names the optional ones to remove (no end, no
/// limit, no minimum, everyone). Everything the database would refuse is refused before Shopify is changed; Shopify is
/// changed first and our record follows only when it accepted. One change at a time per campaign (its lock), so two editors
/// cannot interleave the customer lists they add and remove.
/// </summary>
public static class EditCampaign
{
    public sealed record CampaignChange(string? Title, decimal? Percentage, decimal? FixedAmount, DateTimeOffset? StartsAt, DateTimeOffset? EndsAt,
        int? UsageLimit, bool? OncePerCustomer, decimal? MinimumSubtotal, CreateCampaign.CombinesWith? CombinesWith, long[]? CustomerIds,
        string[]? Clear);

    /// <summary>The optional fields <c>clear</c> may name.</summary>
    public static readonly string[] Clearable = ["endsAt", "usageLimit", "minimumSubtotal", "customerIds"];

    // Properties, not a positional record: Dapper maps bigint[] (System.Array to Npgsql) only by assignment.
    private sealed class Stored
    {
        public string State { get; init; } = "";
        public string? DiscountId { get; init; }
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
        public long[]? CustomerIds { get; init; }
    }

    public static RouteGroupBuilder MapEditCampaign(this RouteGroupBuilder admin)
    {
        admin.MapPut("/campaigns/{id:long}", UpdateAsync);
        return admin;
    }

    private static async Task<Results<Ok<CampaignQueries.CampaignView>, ProblemHttpResult>> UpdateAsync(HttpContext http, long id,
        CampaignChange change, NpgsqlDataSource db, ShopifyDiscounts shopify, CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var held = await CampaignLock.TryTakeAsync(db, id, ct);
        if (held is null)
        {
            http.Response.Headers.RetryAfter = "5";
            return Problems.Create(StatusCodes.Status409Conflict, "campaign_in_progress",
                "The campaign is being created or changed right now; try again in a moment.");
        }
        Stored? current;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            current = await conn.QuerySingleOrDefaultAsync<Stored>(new CommandDefinition("""
                SELECT state, discount_id, title, discount_type, value, starts_at, ends_at, usage_limit, once_per_customer, minimum_subtotal,
                       combines_product, combines_order, combines_shipping, customer_ids
                FROM campaigns WHERE id = @id AND shop_domain = @shop
                """, new { id, shop }, cancellationToken: ct));
        }
        if (current is null) return Problems.NotFound("campaign_not_found", "No such campaign.");
        if (current.DiscountId is null || current.State is CampaignState.Deactivated or CampaignState.Failed)
        {
            return Problems.Create(StatusCodes.Status409Conflict, "campaign_not_editable", $"A {current.State} campaign cannot be changed.");
        }

        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];
        var clear = change.Clear ?? [];
        foreach (var field in clear.Where(f => !Clearable.Contains(f)))
        {
            Add("clear", $"{field} cannot be cleared; clear takes {string.Join(", ", Clearable)}.");
        }
        foreach (var field in clear.Where(f => Clearable.Contains(f) && Given(change, f))) Add(field, "Give a value or clear it, not both.");
        if (change.Percentage is not null && change.FixedAmount is not null) Add("value", "Give either percentage or fixedAmount.");
        CampaignRules.Value(change.Percentage, change.FixedAmount, Add);
        var title = change.Title?.Trim() ?? current.Title;
        CampaignRules.Title(title, Add);
        if (change.StartsAt is { } s0 && !CreateCampaign.InCalendar(s0)) Add("startsAt", CreateCampaign.CalendarRule);
        if (change.EndsAt is { } e0 && !CreateCampaign.InCalendar(e0)) Add("endsAt", CreateCampaign.CalendarRule);
        CampaignRules.UsageLimit(change.UsageLimit, Add);
        CampaignRules.MinimumSubtotal(change.MinimumSubtotal, Add);
        CampaignRules.CustomerIds(change.CustomerIds, Add);
        // Everything the database would refuse is refused here, before Shopify is changed.
        var startsAt = change.StartsAt is { } s1 && CreateCampaign.InCalendar(s1) ? CreateCampaign.AsStored(s1) : current.StartsAt;
        var endsAt = clear.Contains("endsAt") ? null
            : change.EndsAt is { } e1 && CreateCampaign.InCalendar(e1) ? CreateCampaign.AsStored(e1) : current.EndsAt;
        if (endsAt <= startsAt && !errors.ContainsKey("endsAt")) Add("endsAt", "Must be after the campaign's start.");
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_campaign", "Some campaign fields are not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }

        var customers = clear.Contains("customerIds") ? null
            : change.CustomerIds is { } ids ? (ids.Length == 0 ? null : ids.Distinct().Order().ToArray()) : current.CustomerIds;
        var wanted = new ShopifyDiscounts.CampaignDiscount("", title + CampaignGeneration.Marker(id),
            change.Percentage is not null ? "percentage" : change.FixedAmount is not null ? "fixed_amount" : current.DiscountType,
            change.Percentage ?? change.FixedAmount ?? current.Value, startsAt, endsAt,
            clear.Contains("usageLimit") ? null : change.UsageLimit ?? current.UsageLimit, change.OncePerCustomer ?? current.OncePerCustomer,
            clear.Contains("minimumSubtotal") ? null : change.MinimumSubtotal ?? current.MinimumSubtotal,
            change.CombinesWith?.Product ?? current.CombinesProduct, change.CombinesWith?.Order ?? current.CombinesOrder,
            change.CombinesWith?.Shipping ?? current.CombinesShipping, customers);
        try
        {
            await shopify.UpdateCampaignDiscountAsync(shop, current.DiscountId, wanted, current.CustomerIds, ct);
        }
        catch (ShopifyUserErrorException e)
        {
            return Problems.Create(StatusCodes.Status502BadGateway, "shopify_refused", "Shopify did not accept the change.", e.Message);
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
        {
            http.Response.Headers.RetryAfter = "30";
            return Problems.Unavailable("shopify_unavailable", "Shopify could not be reached; nothing was changed.");
        }
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE campaigns SET title = @title, discount_type = @DiscountType, value = @Value, starts_at = @StartsAt, ends_at = @EndsAt,
                       usage_limit = @UsageLimit, once_per_customer = @OncePerCustomer, minimum_subtotal = @MinimumSubtotal,
                       combines_product = @CombinesProduct, combines_order = @CombinesOrder, combines_shipping = @CombinesShipping,
                       customer_ids = @customers, updated_at = now()
                WHERE id = @id
                """, new
            {
                id, title, wanted.DiscountType, wanted.Value, wanted.StartsAt, wanted.EndsAt, wanted.UsageLimit, wanted.OncePerCustomer,
                wanted.MinimumSubtotal, wanted.CombinesProduct, wanted.CombinesOrder, wanted.CombinesShipping, customers,
            }, cancellationToken: ct));
        }
        return TypedResults.Ok((await CampaignQueries.LoadAsync(db, shop, id, ct))!);
    }

    private static bool Given(CampaignChange change, string field) => field switch
    {
        "endsAt" => change.EndsAt is not null,
        "usageLimit" => change.UsageLimit is not null,
        "minimumSubtotal" => change.MinimumSubtotal is not null,
        _ => change.CustomerIds is not null,
    };
}
