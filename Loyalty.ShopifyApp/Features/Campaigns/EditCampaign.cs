namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>PUT /api/admin/campaigns/{id}</c>: change what Shopify lets a code discount change — title, value (percentage or fixed
/// amount), start and end, usage limit, once per customer, minimum subtotal, combinations and eligible customers — through
/// <c>discountCodeBasicUpdate</c>. A field left out stays as it is; <c>clear</c> names the optional ones to remove (no end, no
/// limit, no minimum, everyone). Everything the database would refuse is refused before Shopify is changed; Shopify is
/// changed first and our record follows only when it accepted. Only an active campaign is edited, one change at a time (its
/// lock, which deactivation takes too); <c>version</c> (the <c>updatedAt</c> the editor saw) refuses a change made on a stale
/// view (409 <c>campaign_changed</c>). When Shopify's answer is lost, the customers sent are kept as unconfirmed and the next
/// edit removes them unless it keeps them.
/// </summary>
public static class EditCampaign
{
    public sealed record CampaignChange(string? Title, decimal? Percentage, decimal? FixedAmount, DateTimeOffset? StartsAt, DateTimeOffset? EndsAt,
        int? UsageLimit, bool? OncePerCustomer, decimal? MinimumSubtotal, CombinesChange? CombinesWith, long[]? CustomerIds, string?[]? Clear,
        DateTimeOffset? Version);

    /// <summary>The discount classes it combines with; one left out stays as it is.</summary>
    public sealed record CombinesChange(bool? Product, bool? Order, bool? Shipping);

    /// <summary>The optional fields <c>clear</c> may name.</summary>
    public static readonly string[] Clearable = ["endsAt", "usageLimit", "minimumSubtotal", "customerIds"];

    public static RouteGroupBuilder MapEditCampaign(this RouteGroupBuilder admin)
    {
        admin.MapPut("/campaigns/{id:long}", UpdateAsync)
            .ProblemCodes(StatusCodes.Status404NotFound, "campaign_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "campaign_not_editable", "campaign_in_progress", "campaign_changed")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_campaign")
            .ProblemCodes(StatusCodes.Status502BadGateway, "shopify_refused")
            .RequestExample(new CampaignChange("Summer sale, extended", null, null, null, CampaignQueries.Example.EndsAt!.Value.AddDays(14), 800,
                null, null, null, null, null, CampaignQueries.Example.UpdatedAt))
            .ResponseExample(StatusCodes.Status200OK, CampaignQueries.Example with
            {
                Title = "Summer sale, extended", EndsAt = CampaignQueries.Example.EndsAt!.Value.AddDays(14), UsageLimit = 800,
            });
        return admin;
    }

    private static async Task<Results<Ok<CampaignQueries.CampaignView>, ProblemHttpResult>> UpdateAsync(HttpContext http, long id,
        CampaignChange change, NpgsqlDataSource db, ShopifyDiscounts shopify, CancellationToken ct)
    {
        var shop = http.User.Shop();
        // Another shop's campaign is not found, and never locked: its id says nothing and holds up nothing.
        if (await LoadAsync(db, shop, id, ct) is null) return Problems.NotFound("campaign_not_found", "No such campaign.");
        await using var held = await CampaignLock.TryTakeAsync(db, id, ct);
        if (held is null)
        {
            http.Response.Headers.RetryAfter = "5";
            return Problems.Create(StatusCodes.Status409Conflict, "campaign_in_progress",
                "The campaign is being created, changed or deactivated right now; try again in a moment.");
        }
        var current = (await LoadAsync(db, shop, id, ct))!;
        if (current.DiscountId is null || current.State != CampaignState.Active)
        {
            return Problems.Create(StatusCodes.Status409Conflict, "campaign_not_editable",
                $"A {current.State} campaign cannot be changed; only an active one can.");
        }
        if (change.Version is { } seen && CreateCampaign.AsStored(seen) != current.UpdatedAt)
        {
            return Problems.Create(StatusCodes.Status409Conflict, "campaign_changed",
                "The campaign was changed since you loaded it; load it again and redo your change.");
        }

        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];
        var clear = change.Clear ?? [];
        if (clear.Any(f => f is null || !Clearable.Contains(f))) Add("clear", $"clear takes only {string.Join(", ", Clearable)}.");
        foreach (var field in clear.OfType<string>().Where(f => Clearable.Contains(f) && Given(change, f)))
        {
            Add(field, "Give a value or clear it, not both.");
        }
        if (change.Percentage is not null && change.FixedAmount is not null) Add("value", "Give either percentage or fixedAmount.");
        CampaignRules.Value(change.Percentage, change.FixedAmount, Add);
        var title = change.Title?.Trim() ?? current.Title;
        CampaignRules.Title(title, Add);
        if (change.StartsAt is { } s0 && !CreateCampaign.InCalendar(s0)) Add("startsAt", CreateCampaign.CalendarRule);
        if (change.EndsAt is { } e0 && !CreateCampaign.InCalendar(e0)) Add("endsAt", CreateCampaign.CalendarRule);
        CampaignRules.UsageLimit(change.UsageLimit, Add);
        CampaignRules.MinimumSubtotal(change.MinimumSubtotal, Add);
        CampaignRules.CustomerIds(change.CustomerIds, Add);
        if (current.TierId is not null && (change.CustomerIds is not null || clear.Contains("customerIds")))
        {
            Add("customerIds", "The campaign is limited to a VIP tier: its members are who may use it.");
        }
        // Everything the database would refuse is refused here, before Shopify is changed.
        var startsAt = change.StartsAt is { } s1 && CreateCampaign.InCalendar(s1) ? CreateCampaign.AsStored(s1) : current.StartsAt;
        var endsAt = clear.Contains("endsAt") ? null
            : change.EndsAt is { } e1 && CreateCampaign.InCalendar(e1) ? CreateCampaign.AsStored(e1) : current.EndsAt;
        // Shopify keeps whole seconds: an end in the start's second would be refused there.
        if (endsAt is { } end && end.ToUnixTimeSeconds() <= startsAt.ToUnixTimeSeconds() && !errors.ContainsKey("endsAt"))
        {
            Add("endsAt", "Must be at least a second after the campaign's start.");
        }
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_campaign", "Some campaign fields are not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }

        var edited = current with
        {
            Title = title,
            DiscountType = change.Percentage is not null ? "percentage" : change.FixedAmount is not null ? "fixed_amount" : current.DiscountType,
            Value = change.Percentage ?? change.FixedAmount ?? current.Value,
            StartsAt = startsAt,
            EndsAt = endsAt,
            UsageLimit = clear.Contains("usageLimit") ? null : change.UsageLimit ?? current.UsageLimit,
            OncePerCustomer = change.OncePerCustomer ?? current.OncePerCustomer,
            MinimumSubtotal = clear.Contains("minimumSubtotal") ? null : change.MinimumSubtotal ?? current.MinimumSubtotal,
            CombinesProduct = change.CombinesWith?.Product ?? current.CombinesProduct,
            CombinesOrder = change.CombinesWith?.Order ?? current.CombinesOrder,
            CombinesShipping = change.CombinesWith?.Shipping ?? current.CombinesShipping,
            CustomerIds = clear.Contains("customerIds") ? null
                : change.CustomerIds is { } ids ? (ids.Length == 0 ? null : ids.Distinct().Order().ToArray()) : current.CustomerIds,
        };
        try
        {
            // Customers an earlier edit may have added in Shopify (its answer was lost) are removed too, unless kept.
            await shopify.UpdateCampaignDiscountAsync(shop, current.DiscountId, edited.Discount(""), current.CustomerIds,
                current.CustomerIdsUnconfirmed, segmentLimited: current.TierId is not null, ct);
        }
        catch (ShopifyUserErrorException e)
        {
            return Problems.Create(StatusCodes.Status502BadGateway, "shopify_refused", "Shopify did not accept the change.", e.Message);
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
        {
            // Shopify may have applied it: remember whom it may have let in, so the next edit can take them out again.
            await using (var conn = await db.OpenConnectionAsync(CancellationToken.None))
            {
                await conn.ExecuteAsync(new CommandDefinition("""
                    UPDATE campaigns
                    SET customer_ids_unconfirmed = ARRAY(SELECT DISTINCT unnest(coalesce(customer_ids_unconfirmed, '{}') || @customers))
                    WHERE id = @id
                    """, new { id, customers = edited.CustomerIds ?? [] }, cancellationToken: CancellationToken.None));
            }
            http.Response.Headers.RetryAfter = "30";
            return Problems.Unavailable("shopify_unavailable",
                "Shopify did not answer; the change may or may not have been applied there. Send it again.");
        }
        // Shopify has it: our record follows even if the merchant's request is gone meanwhile.
        await using (var conn = await db.OpenConnectionAsync(CancellationToken.None))
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE campaigns SET title = @Title, discount_type = @DiscountType, value = @Value, starts_at = @StartsAt, ends_at = @EndsAt,
                       usage_limit = @UsageLimit, once_per_customer = @OncePerCustomer, minimum_subtotal = @MinimumSubtotal,
                       combines_product = @CombinesProduct, combines_order = @CombinesOrder, combines_shipping = @CombinesShipping,
                       customer_ids = @CustomerIds, customer_ids_unconfirmed = NULL, updated_at = now()
                WHERE id = @Id AND state = @active
                """, new
            {
                edited.Id, edited.Title, edited.DiscountType, edited.Value, edited.StartsAt, edited.EndsAt, edited.UsageLimit, edited.OncePerCustomer,
                edited.MinimumSubtotal, edited.CombinesProduct, edited.CombinesOrder, edited.CombinesShipping, edited.CustomerIds,
                active = CampaignState.Active,
            }, cancellationToken: CancellationToken.None));
        }
        return TypedResults.Ok((await CampaignQueries.LoadAsync(db, shop, id, ct))!);
    }

    private static async Task<StoredCampaign?> LoadAsync(NpgsqlDataSource db, string shop, long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<StoredCampaign>(new CommandDefinition("""
            SELECT id, state, discount_id, title, discount_type, value, starts_at, ends_at, usage_limit, once_per_customer, minimum_subtotal,
                   combines_product, combines_order, combines_shipping, customer_ids, customer_ids_unconfirmed, tier_id, updated_at
            FROM campaigns WHERE id = @id AND shop_domain = @shop
            """, new { id, shop }, cancellationToken: ct));
    }

    private static bool Given(CampaignChange change, string? field) => field switch
    {
        "endsAt" => change.EndsAt is not null,
        "usageLimit" => change.UsageLimit is not null,
        "minimumSubtotal" => change.MinimumSubtotal is not null,
        _ => change.CustomerIds is not null,
    };
}
