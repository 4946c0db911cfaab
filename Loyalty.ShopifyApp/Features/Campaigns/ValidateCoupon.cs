using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Storefront;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// Is this code usable? <c>POST /api/admin/coupons/validate { code, customerId? }</c> and, for the logged-in
/// customer, <c>POST /proxy/api/coupons/validate { code }</c>. Valid, or not with a reason — in this order of
/// precedence — <c>not_found</c>, <c>not_started</c>, <c>expired</c>, <c>usage_limit_reached</c>, <c>not_eligible</c>,
/// <c>already_used</c>, from our records (campaign codes and loyalty coupons) and Shopify's view of the code.
/// A known code's verdict says what it takes off (<c>discountType</c>, <c>value</c>, <c>currency</c>, <c>minimumSubtotal</c>);
/// given a cart <c>subtotal</c>, the <c>amountOff</c> for that cart when the code is usable, and <c>minimum_not_met</c> (last in
/// precedence, amountOff 0) when the cart is below the code's minimum.
/// On the storefront a code that is not the customer's (another customer's loyalty coupon, a campaign for listed
/// customers only) is answered exactly like one that does not exist, so codes cannot be probed; Shopify is asked only
/// within <see cref="StorefrontOptions.ShopifyWaitSeconds"/> of the shop's cost bucket, else 503 <c>shopify_busy</c>.
/// </summary>
public static class ValidateCoupon
{
    public sealed record ValidateRequest(string? Code, long? CustomerId, decimal? Subtotal);

    public sealed record Verdict(string Code, bool Valid, string? Reason, string? Kind, long? CampaignId, bool ShopifyChecked,
        string? DiscountType, decimal? Value, string? Currency, decimal? MinimumSubtotal, decimal? AmountOff);

    /// <summary>The largest cart subtotal a check takes (as a campaign's minimum subtotal).</summary>
    private const decimal MaxSubtotal = 1_000_000_000m;

    // Properties, not a positional record: Dapper cannot match bigint[] (System.Array) to a constructor parameter.
    private sealed record Known
    {
        public string Kind { get; init; } = "";
        public long? CampaignId { get; init; }
        public string? ConversionId { get; init; }
        public string CodeState { get; init; } = "";
        public string CampaignState { get; init; } = "";
        public DateTimeOffset StartsAt { get; init; }
        public DateTimeOffset? EndsAt { get; init; }
        public int? UsageLimit { get; init; }
        public bool OncePerCustomer { get; init; }
        public long[]? CustomerIds { get; init; }
        public long? TierId { get; init; }
        public long? CustomerTierId { get; init; }
        public long? Owner { get; init; }
        public long Redemptions { get; init; }
        public long CustomerRedemptions { get; init; }
        public string DiscountType { get; init; } = "";
        public decimal Value { get; init; }
        public decimal? MinimumSubtotal { get; init; }
        public string? Currency { get; init; }
    }

    public static RouteGroupBuilder MapValidateCouponAdmin(this RouteGroupBuilder admin)
    {
        admin.MapPost("/coupons/validate", async (HttpContext http, ValidateRequest r, NpgsqlDataSource db, ShopifyDiscounts shopify,
            TimeProvider clock,
            CancellationToken ct) => await ValidateAsync(http, http.User.Shop(), r, r.CustomerId, storefrontWait: null, db, shopify, clock, ct))
            .DeclareValidateAnswers();
        return admin;
    }

    public static RouteGroupBuilder MapValidateCouponStorefront(this RouteGroupBuilder proxy)
    {
        proxy.MapPost("/api/coupons/validate", async (HttpContext http, ValidateRequest r, NpgsqlDataSource db, ShopifyDiscounts shopify,
                IOptions<StorefrontOptions> storefront, TimeProvider clock, CancellationToken ct) =>
                await ValidateAsync(http, http.Proxy().Shop, r, http.Customer(), TimeSpan.FromSeconds(storefront.Value.ShopifyWaitSeconds), db,
                    shopify, clock, ct))
            .RequireLoggedInCustomer()
            .RequireStorefrontCodeCheckLimit()
            .DeclareValidateAnswers();
        return proxy;
    }

    /// <summary>What a code check answers besides its verdict, on the admin and the storefront alike.</summary>
    private static RouteHandlerBuilder DeclareValidateAnswers(this RouteHandlerBuilder endpoint) => endpoint
        .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_code", "invalid_subtotal")
        .ProblemCodes(StatusCodes.Status503ServiceUnavailable, "shopify_busy")
        .RequestExample(new ValidateRequest("SUMMER10", CustomerId: null, Subtotal: 4800m))
        .ResponseExample(StatusCodes.Status200OK, new Verdict("SUMMER10", Valid: true, Reason: null, Kind: "campaign", CampaignId: 42,
            ShopifyChecked: true, DiscountType: "percentage", Value: 10m, Currency: "JPY", MinimumSubtotal: 3000m, AmountOff: 480m));

    /// <param name="storefrontWait">Set for the storefront: the customer's view (see the class summary) and the cost-bucket wait.</param>
    private static async Task<Results<Ok<Verdict>, ProblemHttpResult>> ValidateAsync(HttpContext http, string shop, ValidateRequest request,
        long? customer, TimeSpan? storefrontWait, NpgsqlDataSource db, ShopifyDiscounts shopify, TimeProvider clock, CancellationToken ct)
    {
        var (code, subtotal) = (request.Code, request.Subtotal);
        if (StoredText.HasNul(code)) return StoredText.Problem("invalid_code", "code");
        if (subtotal is < 0 or > MaxSubtotal || subtotal is { } given && decimal.Round(given, 2) != given)
        {
            const string Rule = "A cart subtotal from 0 to 1,000,000,000, with at most 2 decimals.";
            return Problems.Validation("invalid_subtotal", Rule, null,
                new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["subtotal"] = [Rule] } });
        }
        code = code?.Trim();
        if (string.IsNullOrEmpty(code) || code.Length > 255) return Problems.Validation("invalid_code", "Send the code to check (1-255 characters).");

        Known? known;
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            known = await conn.QuerySingleOrDefaultAsync<Known>(new CommandDefinition("""
                SELECT 'campaign' AS kind, c.id AS campaign_id, NULL::text AS conversion_id, k.state AS code_state, c.state AS campaign_state,
                       c.starts_at, c.ends_at, c.usage_limit, c.once_per_customer, c.customer_ids, c.tier_id,
                       (SELECT t.tier_id FROM customer_tiers t WHERE t.shop_domain = c.shop_domain AND t.customer_id = @customer)
                           AS customer_tier_id, NULL::bigint AS owner,
                       (SELECT count(*) FROM coupon_redemptions r WHERE r.campaign_id = c.id) AS redemptions,
                       (SELECT count(*) FROM coupon_redemptions r WHERE r.campaign_id = c.id AND r.customer_id = @customer) AS customer_redemptions,
                       c.discount_type, c.value, c.minimum_subtotal, (SELECT s.currency FROM shops s WHERE s.shop_domain = c.shop_domain) AS currency
                FROM campaign_codes k JOIN campaigns c ON c.id = k.campaign_id
                WHERE k.shop_domain = @shop AND upper(k.code) = upper(@code) AND k.state <> @released
                UNION ALL
                SELECT 'loyalty', NULL, v.id, v.coupon_status, v.state, v.created_at, v.expires_at, 1, true, NULL, NULL, NULL, v.customer_id,
                       CASE WHEN v.coupon_status = 'used' THEN 1 ELSE 0 END, CASE WHEN v.coupon_status = 'used' THEN 1 ELSE 0 END,
                       'fixed_amount', v.amount, NULL, v.currency
                FROM conversions v WHERE v.shop_domain = @shop AND upper(v.code) = upper(@code) AND v.state = 'completed'
                LIMIT 1
                """, new { shop, code, customer, released = CodeState.Released }, cancellationToken: ct));
        }

        // "Not yours" must not be told from "does not exist": same status, same body, no Shopify call either way.
        if (storefrontWait is not null && known is not null && !IsFor(known, customer)) known = null;

        var now = clock.GetUtcNow();
        string? reason = known switch
        {
            null => "not_found",
            { Kind: "campaign", CodeState: not "created" } => "not_found",
            { Kind: "loyalty", CodeState: CouponStatuses.Cancelled or CouponStatuses.Cancelling or CouponStatuses.None } => "not_found",
            _ when known.StartsAt > now => "not_started",
            _ when known.CampaignState == "deactivated" || known.EndsAt <= now => "expired",
            { Kind: "campaign" } when known.UsageLimit is { } limit && known.Redemptions >= limit => "usage_limit_reached",
            { Kind: "campaign" } when known.CustomerIds is { Length: > 0 } ids && (customer is null || !ids.Contains(customer.Value)) =>
                "not_eligible",
            { Kind: "campaign" } when known.TierId is { } tier && known.CustomerTierId != tier => "not_eligible",
            { Kind: "loyalty" } when customer is not null && known.Owner != customer => "not_eligible",
            { Kind: "loyalty", CodeState: CouponStatuses.Used } => "already_used",
            { Kind: "campaign" } when known.OncePerCustomer && known.CustomerRedemptions > 0 => "already_used",
            _ => null,
        };

        // Shopify's own view can only make a valid-looking code invalid (deleted, expired, used up there).
        var checkedShopify = false;
        if (reason is null)
        {
            try
            {
                var found = await shopify.FindByCodeAsync(shop, code, storefrontWait, ct);
                checkedShopify = true;
                reason = found switch
                {
                    null => "not_found",
                    { Status: "SCHEDULED" } => "not_started",
                    { Status: "EXPIRED" } => "expired",
                    { UsageLimit: { } limit, UsageCount: { } used } when used >= limit => "usage_limit_reached",
                    _ => null,
                };
            }
            catch (ShopifyThrottledException e) when (storefrontWait is not null)
            {
                // The shop's API budget is spent for longer than a customer waits: nothing was sent, ask again later.
                http.Response.Headers.RetryAfter = Math.Max(1, Math.Ceiling(e.RetryAfter.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
                return Problems.Unavailable("shopify_busy", "Codes cannot be checked right now; please try again in a moment.");
            }
            catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
            {
                // Our records alone answer; the verdict says Shopify was not asked.
            }
        }
        // What it takes off, for a code that exists for this customer (a not_found answer is the same whatever the code). For this
        // cart: below the code's minimum it takes nothing off, as Shopify would not apply it.
        var shown = reason == "not_found" ? null : known;
        if (shown is null && storefrontWait is not null)
        {
            // To a customer every not_found is the same answer, whatever our records or Shopify hold (a reserved code not live
            // yet, a cancelled coupon, one Shopify deleted): nothing to tell them apart or to count campaigns by.
            return TypedResults.Ok(new Verdict(code, false, "not_found", null, null, false, null, null, null, null, null));
        }
        decimal? amountOff = null;
        if (shown is not null && subtotal is { } cart && reason is null)
        {
            if (shown.MinimumSubtotal is { } minimum && cart < minimum) reason ??= "minimum_not_met";
            amountOff = shown.MinimumSubtotal is { } min && cart < min ? 0m
                : shown.DiscountType == "percentage" ? decimal.Round(cart * shown.Value / 100m, 2, MidpointRounding.AwayFromZero)
                : Math.Min(shown.Value, cart);
        }
        return TypedResults.Ok(new Verdict(code, reason is null, reason, known?.Kind, known?.CampaignId, checkedShopify,
            shown?.DiscountType, shown?.Value, shown?.Currency, shown?.MinimumSubtotal, amountOff));
    }

    /// <summary>Whether <paramref name="customer"/> may use the code at all (whatever else then makes it invalid).</summary>
    private static bool IsFor(Known known, long? customer) => known.Kind == "loyalty"
        ? known.Owner == customer
        : (known.CustomerIds is not { Length: > 0 } ids || customer is { } c && ids.Contains(c))
          && (known.TierId is null || known.CustomerTierId == known.TierId);
}
