using Hangfire;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// Bringing a stored campaign's discount into Shopify, for <c>POST /api/admin/campaigns</c> (a new campaign, or a
/// resend with the same Idempotency-Key) and <c>POST /api/admin/campaigns/{id}/retry</c> (a failed campaign, or one
/// still creating). A single code is tried while the merchant waits; when Shopify cannot be reached (5xx, timeout, no
/// budget) the campaign stays <c>creating</c>, the answer is 202 and a background job finishes it. Every run looks the
/// code up before creating it, so a create whose answer was lost is found instead of made twice. Many codes always go
/// to the job.
/// </summary>
public static partial class ResumeCampaign
{
    public enum Outcome
    {
        /// <summary>Nothing left to do: the discount is in Shopify (or the campaign was deactivated).</summary>
        Done,

        /// <summary>Still creating or generating; a background run goes on with it.</summary>
        InBackground,

        /// <summary>Shopify refused the discount; the reason is the campaign's last error.</summary>
        Failed,
    }

    public static RouteGroupBuilder MapResumeCampaign(this RouteGroupBuilder admin)
    {
        admin.MapPost("/campaigns/{id:long}/retry", RetryAsync)
            .ProblemCodes(StatusCodes.Status404NotFound, "campaign_not_found")
            .ProblemCodes(StatusCodes.Status409Conflict, "code_taken", "campaign_not_retryable")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_campaign")
            .ProblemCodes(StatusCodes.Status502BadGateway, "campaign_creation_failed");
        return admin;
    }

    private static async Task<Results<Ok<CampaignQueries.CampaignView>, Accepted<CampaignQueries.CampaignView>, ProblemHttpResult>> RetryAsync(
        HttpContext http, long id, NpgsqlDataSource db, CampaignGeneration generation, IBackgroundJobClient jobs, IOptions<CampaignOptions> options,
        ILoggerFactory loggers, CancellationToken ct)
    {
        var shop = http.User.Shop();
        var view = await CampaignQueries.LoadAsync(db, shop, id, ct);
        if (view is null) return Problems.NotFound("campaign_not_found", "No such campaign.");
        if (view.State == CampaignState.Failed && view.TierId is { } tier)
        {
            // The app's own rule, not Shopify, refuses it now (the tier lost its tag, was archived or shares its tag): a 422, nothing sent.
            await using var conn = await db.OpenConnectionAsync(ct);
            if (await Tiers.TierAudience.WhyNotAsync(conn, null, shop, tier, lockTier: false, ct) is { } why)
            {
                return Problems.Validation("invalid_campaign", "Some campaign fields are not valid.", "See errors for each field.",
                    new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["tierId"] = [why] } });
            }
        }
        if (view.State == CampaignState.Failed && !await ReserveAgainAsync(db, id, ct))
        {
            return Problems.Create(StatusCodes.Status409Conflict, "code_taken", "Another campaign uses one of this campaign's codes now.",
                "Deactivate this campaign and create a new one.");
        }
        if (view.State is not (CampaignState.Failed or CampaignState.Creating or CampaignState.Generating))
        {
            return Problems.Create(StatusCodes.Status409Conflict, "campaign_not_retryable", $"A {view.State} campaign has nothing to retry.");
        }

        var (outcome, current) = await RunAsync(db, generation, jobs, options.Value, loggers, shop, id, ct);
        return outcome switch
        {
            Outcome.Done => TypedResults.Ok(current),
            Outcome.InBackground => TypedResults.Accepted($"/api/admin/campaigns/{id}", current),
            _ => CreationFailed(current),
        };
    }

    /// <summary>Runs (one code) or schedules (many) whatever is left of the campaign's creation; where it then stands.</summary>
    public static async Task<(Outcome Outcome, CampaignQueries.CampaignView View)> RunAsync(NpgsqlDataSource db, CampaignGeneration generation,
        IBackgroundJobClient jobs, CampaignOptions options, ILoggerFactory loggers, string shop, long id, CancellationToken ct)
    {
        var view = (await CampaignQueries.LoadAsync(db, shop, id, ct))!;
        if (view.State is CampaignState.Creating or CampaignState.Generating)
        {
            if (view.RequestedCodes > 1)
            {
                jobs.Enqueue<CampaignGeneration>(g => g.GenerateAsync(id, CancellationToken.None));
            }
            else
            {
                try
                {
                    // False when another run (the job, or a concurrent resend) has it: that one finishes it.
                    await generation.TryRunAsync(id, TimeSpan.FromSeconds(options.RequestShopifyWaitSeconds), ct);
                }
                catch (Exception e) when (e is ShopifyUnavailableException or ShopifyGraphQLException or ShopNotAuthorizedException)
                {
                    var delay = e is ShopifyThrottledException t ? t.RetryAfter : TimeSpan.FromSeconds(options.ResumeDelaySeconds);
                    jobs.Schedule<CampaignGeneration>(g => g.GenerateAsync(id, CancellationToken.None), delay);
                    LogInBackground(loggers.CreateLogger(typeof(ResumeCampaign)), shop, id, e.Message, delay.TotalSeconds);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    // The merchant went away mid-create (the lost answer itself): the job settles what Shopify got.
                    jobs.Schedule<CampaignGeneration>(g => g.GenerateAsync(id, CancellationToken.None),
                        TimeSpan.FromSeconds(options.ResumeDelaySeconds));
                    throw;
                }
            }
            view = (await CampaignQueries.LoadAsync(db, shop, id, ct))!;
        }
        var outcome = view.State switch
        {
            CampaignState.Failed => Outcome.Failed,
            CampaignState.Creating or CampaignState.Generating => Outcome.InBackground,
            _ => Outcome.Done,
        };
        return (outcome, view);
    }

    public static ProblemHttpResult CreationFailed(CampaignQueries.CampaignView view) =>
        Problems.Create(StatusCodes.Status502BadGateway, "campaign_creation_failed", "Shopify did not create the discount.", view.LastError,
            new Dictionary<string, object?> { ["campaignId"] = view.Id });

    /// <summary>A failed campaign's released codes, reserved again and the campaign back to creating; false if another campaign took one.</summary>
    private static async Task<bool> ReserveAgainAsync(NpgsqlDataSource db, long id, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        try
        {
            await conn.ExecuteAsync(new CommandDefinition("""
                UPDATE campaign_codes SET state = @pending WHERE campaign_id = @id AND state = @released;
                UPDATE campaigns SET state = @creating, last_error = NULL, updated_at = now() WHERE id = @id AND state = @failed;
                """, new
            {
                id, pending = CodeState.Pending, released = CodeState.Released, creating = CampaignState.Creating, failed = CampaignState.Failed,
            }, tx, cancellationToken: ct));
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            return false;
        }
        await tx.CommitAsync(ct);
        return true;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Campaign {CampaignId} of {Shop}: Shopify could not be reached ({Error}); the job goes on with it in {DelaySeconds:F0} s")]
    private static partial void LogInBackground(ILogger logger, string shop, long campaignId, string error, double delaySeconds);
}
