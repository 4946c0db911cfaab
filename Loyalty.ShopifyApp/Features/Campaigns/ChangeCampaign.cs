using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Http;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.Http.HttpResults;
using Npgsql;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>PUT /api/admin/campaigns/{id}</c> (title, end date, usage limit) and <c>DELETE …/{id}</c> (deactivate in
/// Shopify, keep the history). Shopify is changed first; our records follow only when it accepted.
/// </summary>
public static class ChangeCampaign
{
    public sealed record CampaignChange(string? Title, DateTimeOffset? EndsAt, int? UsageLimit);

    private sealed record Current(string State, string? DiscountId, string Title, DateTimeOffset StartsAt, DateTimeOffset? EndsAt, int? UsageLimit);

    public static RouteGroupBuilder MapChangeCampaign(this RouteGroupBuilder admin)
    {
        admin.MapPut("/campaigns/{id:long}", UpdateAsync);
        admin.MapDelete("/campaigns/{id:long}", DeactivateAsync);
        return admin;
    }

    private static async Task<Results<Ok<CampaignQueries.CampaignView>, ProblemHttpResult>> UpdateAsync(HttpContext http, long id, CampaignChange change,
        NpgsqlDataSource db, ShopifyDiscounts shopify, CancellationToken ct)
    {
        var shop = http.User.Shop();
        var current = await LoadAsync(db, shop, id, ct);
        if (current is null) return Problems.NotFound("campaign_not_found", "No such campaign.");
        if (current.DiscountId is null || current.State is "deactivated" or "failed")
        {
            return Problems.Create(StatusCodes.Status409Conflict, "campaign_not_editable", $"A {current.State} campaign cannot be changed.");
        }
        var title = change.Title?.Trim() ?? current.Title;
        var endsAt = change.EndsAt ?? current.EndsAt;
        var usageLimit = change.UsageLimit ?? current.UsageLimit;
        var errors = new Dictionary<string, string[]>();
        if (title.Length is 0 or > 255) errors["title"] = ["A title of 1-255 characters is required."];
        if (endsAt <= current.StartsAt) errors["endsAt"] = ["Must be after the campaign's start."];
        if (usageLimit is < 1) errors["usageLimit"] = ["Must be at least 1."];
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_campaign", "Some campaign fields are not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }

        try
        {
            await shopify.UpdateCampaignDiscountAsync(shop, current.DiscountId, $"{title} (campaign {id})", endsAt, usageLimit, ct);
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
                UPDATE campaigns SET title = @title, ends_at = @endsAt, usage_limit = @usageLimit, updated_at = now() WHERE id = @id
                """, new { id, title, endsAt, usageLimit }, cancellationToken: ct));
        }
        return TypedResults.Ok((await CampaignQueries.LoadAsync(db, shop, id, ct))!);
    }

    private static async Task<Results<Ok<CampaignQueries.CampaignView>, ProblemHttpResult>> DeactivateAsync(HttpContext http, long id, NpgsqlDataSource db,
        ShopifyDiscounts shopify, CancellationToken ct)
    {
        var shop = http.User.Shop();
        var current = await LoadAsync(db, shop, id, ct);
        if (current is null) return Problems.NotFound("campaign_not_found", "No such campaign.");
        if (current.State != "deactivated" && current.DiscountId is not null)
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
                "UPDATE campaigns SET state = 'deactivated', updated_at = now() WHERE id = @id", new { id }, cancellationToken: ct));
        }
        return TypedResults.Ok((await CampaignQueries.LoadAsync(db, shop, id, ct))!);
    }

    private static async Task<Current?> LoadAsync(NpgsqlDataSource db, string shop, long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<Current>(new CommandDefinition(
            "SELECT state, discount_id, title, starts_at, ends_at, usage_limit FROM campaigns WHERE id = @id AND shop_domain = @shop",
            new { id, shop }, cancellationToken: ct));
    }
}
