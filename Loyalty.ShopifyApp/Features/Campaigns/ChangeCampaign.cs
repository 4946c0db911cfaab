namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>DELETE /api/admin/campaigns/{id}</c>: deactivate in Shopify, keep the history (editing is <see cref="EditCampaign"/>).
/// Shopify is changed first; our records follow only when it accepted. Deactivating a campaign that failed or is still creating
/// gives it up and releases its codes, unless Shopify turns out to have it.
/// </summary>
public static class ChangeCampaign
{
    private sealed record Current(string State, string? DiscountId);

    public static RouteGroupBuilder MapChangeCampaign(this RouteGroupBuilder admin)
    {
        admin.MapDelete("/campaigns/{id:long}", DeactivateAsync)
            .ProblemCodes(StatusCodes.Status404NotFound, "campaign_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "campaign_in_progress")
            .ProblemCodes(StatusCodes.Status502BadGateway, "shopify_refused");
        return admin;
    }

    private static async Task<Results<Ok<CampaignQueries.CampaignView>,
    ProblemHttpResult>> DeactivateAsync(HttpContext http, long id, NpgsqlDataSource db,
        ShopifyDiscounts shopify, CancellationToken ct)
    {
        var shop = http.User.Shop();
        var current = await LoadAsync(db, shop, id, ct);
        if (current is null) return Problems.NotFound("campaign_not_found", "No such campaign.");
        // Nobody may create it in Shopify while we decide whether Shopify has it, nor edit it (an edit sends its dates) while it is
        // deactivated. A campaign still generating its codes is deactivated without waiting for the job that holds the lock.
        await using var held = current.State is CampaignState.Creating or CampaignState.Failed or CampaignState.Active
            ? await CampaignLock.TryTakeAsync(db, id, ct)
            : null;
        if (current.State is CampaignState.Creating or CampaignState.Failed or CampaignState.Active)
        {
            if (held is null)
            {
                http.Response.Headers.RetryAfter = "5";
                return Problems.Create(StatusCodes.Status409Conflict, "campaign_in_progress",
                    "The campaign is being created or changed right now; try again in a moment.");
            }
            current = (await LoadAsync(db, shop, id, ct))!;
        }
        if (current.State is CampaignState.Creating or CampaignState.Failed
            && await GiveUpAsync(http, db, shopify, shop, id, current.State, ct) is { } problem)
        {
            return problem;
        }
        if (current.State != CampaignState.Deactivated && current.DiscountId is not null)
        {
            try
            {
                await shopify.DeactivateAsync(shop, current.DiscountId, ct);
            }
            catch (ShopifyUserErrorException e)
            {
                return Problems.Create(StatusCodes.Status502BadGateway, "shopify_refused", "Shopify did not deactivate the discount.", e.Message);
            }
            catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
            {
                http.Response.Headers.RetryAfter = "30";
                return Problems.Unavailable("shopify_unavailable", "Shopify could not be reached; the campaign is still active.");
            }
        }
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            await conn.ExecuteAsync(new CommandDefinition(
                "UPDATE campaigns SET state = @deactivated, updated_at = now() WHERE id = @id", new { id, deactivated = CampaignState.Deactivated },
                cancellationToken: ct));
        }
        return TypedResults.Ok((await CampaignQueries.LoadAsync(db, shop, id, ct))!);
    }

    /// <summary>
    /// Under the campaign's lock. A creating campaign's first code is looked up in Shopify, where a create whose answer
    /// was lost may have applied: ours there, it is deactivated in Shopify and the code stays taken (Shopify has it).
    /// Otherwise, and for a campaign Shopify refused, the campaign is deactivated and its codes released, free for
    /// another campaign. Null when done, a problem when Shopify could not say.
    /// </summary>
    private static async Task<ProblemHttpResult?> GiveUpAsync(HttpContext http, NpgsqlDataSource db, ShopifyDiscounts shopify, string shop, long id,
        string state, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        var first = await conn.ExecuteScalarAsync<string>(new CommandDefinition(
            "SELECT code FROM campaign_codes WHERE campaign_id = @id AND seq = 0", new { id }, cancellationToken: ct));
        try
        {
            var found = first is null || state != CampaignState.Creating ? null : await shopify.FindByCodeAsync(shop, first, ct);
            if (CampaignGeneration.IsOurs(found, id))
            {
                await shopify.DeactivateAsync(shop, found!.Id, ct);
                await conn.ExecuteAsync(new CommandDefinition("""
                    UPDATE campaigns SET discount_id = @discountId, state = @deactivated, updated_at = now() WHERE id = @id;
                    UPDATE campaign_codes SET state = @created WHERE campaign_id = @id AND seq = 0;
                    """, new { id, discountId = found.Id, deactivated = CampaignState.Deactivated, created = CodeState.Created }, cancellationToken:
                        ct));
                return null;
            }
        }
        catch (ShopifyUserErrorException e)
        {
            return Problems.Create(StatusCodes.Status502BadGateway, "shopify_refused", "Shopify did not deactivate the discount.", e.Message);
        }
        catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
        {
            http.Response.Headers.RetryAfter = "30";
            return Problems.Unavailable("shopify_unavailable", "Shopify could not be reached to check for the discount; nothing was changed.");
        }
        await conn.ExecuteAsync(new CommandDefinition("""
            UPDATE campaigns SET state = @deactivated, updated_at = now() WHERE id = @id;
            UPDATE campaign_codes SET state = @released WHERE campaign_id = @id AND state = @pending;
            """, new { id, deactivated = CampaignState.Deactivated, released = CodeState.Released, pending = CodeState.Pending }, cancellationToken:
                ct));
        return null;
    }

    private static async Task<Current?> LoadAsync(NpgsqlDataSource db, string shop, long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<Current>(new CommandDefinition(
            "SELECT state, discount_id FROM campaigns WHERE id = @id AND shop_domain = @shop",
            new { id, shop }, cancellationToken: ct));
    }
}
