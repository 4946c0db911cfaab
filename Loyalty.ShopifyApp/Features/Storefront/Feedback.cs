using Loyalty.ShopifyApp.Features.PosSync;

namespace Loyalty.ShopifyApp.Features.Storefront;

/// <summary>
/// <c>POST /proxy/api/feedback</c>: the logged-in customer leaves feedback and earns the shop's feedback bonus.
/// Against farming: only the first <c>feedbackDailyLimit</c> feedbacks of a customer per day (the shop's day,
/// in its time zone) earn points, and a message needs at least 10 characters. Every feedback is stored.
/// </summary>
public static partial class Feedback
{
    public sealed record FeedbackRequest(string? Message, int? Rating);

    /// <summary>Why a feedback earned no bonus (<see cref="FeedbackResult.Reason"/>), for My Page to say plainly.</summary>
    public static class NoBonus
    {
        /// <summary>The shop gives no feedback bonus (its <c>feedbackBonus</c> is 0).</summary>
        public const string NoFeedbackBonus = "no_feedback_bonus";

        /// <summary>The customer's feedback already earned the bonus <c>feedbackDailyLimit</c> times today (the anti-farming limit).</summary>
        public const string DailyLimitReached = "daily_limit_reached";
    }

    /// <param name="Reason">Null when the bonus was awarded; else a <see cref="NoBonus"/> code.</param>
    /// <param name="DailyLimit">How many feedbacks a day earn the bonus in this shop (its <c>feedbackDailyLimit</c> setting).</param>
    public sealed record FeedbackResult(long FeedbackId, bool BonusAwarded, long Points, string? Reason, int DailyLimit);

    public static RouteGroupBuilder MapFeedback(this RouteGroupBuilder proxy)
    {
        proxy.MapPost("/api/feedback", SubmitAsync).RequireLoggedInCustomer()
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_feedback", "invalid_rating")
            .RequestExample(new FeedbackRequest("The points page is easy to follow.", 5))
            .ResponseExample(StatusCodes.Status201Created, new FeedbackResult(812, BonusAwarded: true, Points: 10, Reason: null, DailyLimit: 1));
        return proxy;
    }

    private static async Task<Results<Created<FeedbackResult>, ProblemHttpResult>> SubmitAsync(HttpContext http, FeedbackRequest request,
        NpgsqlDataSource db, PosSyncTrigger posSync, Pending.ProgramClock clock, ILoggerFactory loggers, CancellationToken ct)
    {
        if (StoredText.HasNul(request.Message)) return StoredText.Problem("invalid_feedback", "message");
        var message = request.Message?.Trim() ?? "";
        if (message.Length is < 10 or > 2000)
        {
            return Problems.Validation("invalid_feedback", "Feedback must be between 10 and 2000 characters.");
        }
        if (request.Rating is < 1 or > 5) return Problems.Validation("invalid_rating", "A rating is from 1 to 5.");

        var (shop, customer) = (http.Proxy().Shop, http.Customer());
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        // One feedback of a customer at a time, so the daily count cannot be raced.
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))",
            new { key = $"feedback:{shop}:{customer}" }, tx, cancellationToken: ct));
        var settings = await ShopSettings.LoadAsync(conn, tx, shop, ct);
        var rewardedToday = await conn.ExecuteScalarAsync<int>(new CommandDefinition("""
            SELECT count(*) FROM customer_feedback f, shops s
            WHERE f.shop_domain = @shop AND f.customer_id = @customer AND f.bonus_points > 0 AND s.shop_domain = f.shop_domain
              AND f.created_at >= date_trunc('day', now() AT TIME ZONE coalesce(s.iana_timezone, 'UTC')) AT TIME ZONE coalesce(s.iana_timezone, 'UTC')
            """, new { shop, customer }, tx, cancellationToken: ct));

        var reason = settings.FeedbackBonus == 0 ? NoBonus.NoFeedbackBonus
            : rewardedToday >= settings.FeedbackDailyLimit ? NoBonus.DailyLimitReached
            : null;
        var bonus = reason is null ? settings.FeedbackBonus : 0;
        var id = await conn.QuerySingleAsync<long>(new CommandDefinition("""
            INSERT INTO customer_feedback (shop_domain, customer_id, message, rating, bonus_points) VALUES (@shop, @customer, @message, @Rating,
                @bonus)
            RETURNING id
            """, new { shop, customer, message, request.Rating, bonus }, tx, cancellationToken: ct));
        if (bonus > 0)
        {
            await Ledger.PostAsync(conn, tx, new PointsEntry(shop, customer, bonus, "feedback", $"feedback:{id}", "Thank you for your feedback",
                "customer", customer.ToString(), OccurredAt: clock.Now), new Posting(QueueForPos: settings.PosMode), ct);
        }
        await tx.CommitAsync(ct);
        if (bonus > 0 && settings.PosMode) posSync.Notify();
        LogFeedback(loggers.CreateLogger(typeof(Feedback)), shop, customer, bonus, reason);
        return TypedResults.Created($"/proxy/api/feedback/{id}", new FeedbackResult(id, bonus > 0, bonus, reason, settings.FeedbackDailyLimit));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Feedback from customer {CustomerId} of {Shop}: {Points} points ({Reason})")]
    private static partial void LogFeedback(ILogger logger, string shop, long customerId, long points, string? reason);
}
