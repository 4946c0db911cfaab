using System.Security.Cryptography;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Hangfire;
using Microsoft.AspNetCore.Mvc;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// <c>POST /api/admin/campaigns</c> with an <c>Idempotency-Key</c>: a merchant's discount campaign, with one code (given
/// or generated) or N unique codes from a pattern. Codes are generated and stored first; a single code is created in
/// Shopify before answering (201) unless Shopify cannot be reached (202, finished by a job), many are created by a
/// resumable job (202, progress at <c>GET …/{id}</c>). A resend with the same key and body answers for the campaign
/// the first one made, resuming it if it is still creating; the same key with another body is refused (409).
/// </summary>
public static partial class CreateCampaign
{
    /// <summary>N generated codes: <see cref="CodeFormats"/> says what <paramref name="Format"/> and <paramref name="Pattern"/> mean.</summary>
    public sealed record CodePattern(int Count, string? Prefix, int? Length,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Format = null, // absent: the request hash of
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Pattern = null); // before formats holds

    public sealed record CombinesWith(bool Product, bool Order, bool Shipping);

    /// <param name="TierId">Only this VIP tier's members may use it (through the tier's Shopify customer segment on its customer tag).</param>
    public sealed record CampaignRequest(
        string? Title, decimal? Percentage, decimal? FixedAmount, DateTimeOffset? StartsAt, DateTimeOffset? EndsAt, int? UsageLimit,
        bool? OncePerCustomer, decimal? MinimumSubtotal, CombinesWith? CombinesWith, long[]? CustomerIds, string? Code, CodePattern? Codes,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] long? TierId = null); // absent: the request hash as before

    /// <summary>No look-alike characters (0/O, 1/I/L).</summary>
    public const string Alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

    [GeneratedRegex(@"^[A-Za-z0-9_-]{1,64}\z")]
    private static partial Regex CodeText();

    [GeneratedRegex(@"^[A-Z0-9_-]{0,20}\z")]
    private static partial Regex PrefixText();

    /// <summary>The largest minimum subtotal a campaign may ask for (it must fit the database's numeric(18, 2)).</summary>
    public const decimal MaxAmount = 1_000_000_000m;

    internal const string CalendarRule = "Must fall between the years 2000 and 2999.";

    /// <summary>A campaign date this app and Shopify can both work with (and add days to without overflowing).</summary>
    internal static bool InCalendar(DateTimeOffset date) => date.Year is >= 2000 and < 3000;

    /// <summary>
    /// A date as the database keeps it: PostgreSQL's timestamps hold microseconds and Npgsql drops the 100 ns ticks below. Dates
    /// are compared as stored, so an end less than a microsecond after the start is refused here, not by the table's check.
    /// </summary>
    internal static DateTimeOffset AsStored(DateTimeOffset date) => date.AddTicks(-(date.UtcTicks % TimeSpan.TicksPerMicrosecond));

    /// <summary>The finest percentage the database keeps (numeric(18, 4)): a finer one would be stored rounded, or as 0.</summary>
    internal static bool FitsPercentage(decimal percentage) => decimal.Round(percentage, 4) == percentage;

    public static RouteGroupBuilder MapCreateCampaign(this RouteGroupBuilder admin)
    {
        admin.MapPost("/campaigns", CreateAsync)
            .ProblemCodes(StatusCodes.Status400BadRequest, "idempotency_key_required")
            .ProblemCodes(StatusCodes.Status409Conflict, "idempotency_key_reused")
            .ProblemCodes(StatusCodes.Status422UnprocessableEntity, "invalid_campaign", "code_taken")
            .RequestExample(new CampaignRequest("Summer sale", 10m, null, CampaignQueries.Example.StartsAt, CampaignQueries.Example.EndsAt, 500,
                OncePerCustomer: true, MinimumSubtotal: 3000m, new CombinesWith(false, true, true), CustomerIds: null, "SUMMER10", Codes: null))
            .ResponseExample(StatusCodes.Status201Created, CampaignQueries.Example);
        return admin;
    }

    private static async Task<Results<Created<CampaignQueries.CampaignView>, Accepted<CampaignQueries.CampaignView>, ProblemHttpResult>> CreateAsync(
        HttpContext http, CampaignRequest r, [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey, NpgsqlDataSource db,
        CampaignGeneration generation, IBackgroundJobClient jobs, IOptions<CampaignOptions> options, ILoggerFactory loggers, TimeProvider clock,
        CancellationToken ct)
    {
        if (!IdempotencyKey.IsValid(idempotencyKey, 100)) return IdempotencyKey.Required(100);
        var shop = http.User.Shop();
        // The request as sent (before defaults that depend on the time), so a resend hours later still matches.
        var requestHash = Convert.ToHexStringLower(SHA256.HashData(JsonSerializer.SerializeToUtf8Bytes(r)));
        Task<Results<Created<CampaignQueries.CampaignView>, Accepted<CampaignQueries.CampaignView>,
        ProblemHttpResult>> AnswerAsync(long campaignId) =>
            AnswerForAsync(db, generation, jobs, options.Value, loggers, shop, campaignId, ct);
        if (await EarlierAsync(db, shop, idempotencyKey!, ct) is { } earlier)
        {
            return earlier.RequestHash == requestHash ? await AnswerAsync(earlier.Id) : KeyReused();
        }

        ShopSettings settings;
        await using (var c = await db.OpenConnectionAsync(ct)) settings = await ShopSettings.LoadAsync(c, null, shop, ct);

        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[field] = [.. errors.GetValueOrDefault(field, []), message];
        // Dates are checked before any arithmetic on them: a start in the year 9999 plus the validity would overflow.
        if (r.StartsAt is { } s0 && !InCalendar(s0)) Add("startsAt", CalendarRule);
        if (r.EndsAt is { } e0 && !InCalendar(e0)) Add("endsAt", CalendarRule);
        var now = clock.GetUtcNow();
        var startsAt = AsStored(r.StartsAt is { } s1 && InCalendar(s1) ? s1 : now);
        var endsAt = AsStored(r.EndsAt ?? startsAt.AddDays(settings.CouponValidityDays));

        var title = r.Title?.Trim() ?? "";
        CampaignRules.Title(title, Add);
        if ((r.Percentage is null) == (r.FixedAmount is null)) Add("value", "Give either percentage or fixedAmount.");
        CampaignRules.Value(r.Percentage, r.FixedAmount, Add);
        if (endsAt <= startsAt) Add("endsAt", "Must be after startsAt.");
        CampaignRules.UsageLimit(r.UsageLimit, Add);
        CampaignRules.MinimumSubtotal(r.MinimumSubtotal, Add);
        CampaignRules.CustomerIds(r.CustomerIds, Add);
        if (r.TierId is { } tierId)
        {
            if (r.CustomerIds is { Length: > 0 }) Add("tierId", "Give either customerIds or tierId, not both.");
            else
            {
                await using var conn = await db.OpenConnectionAsync(ct);
                if (await Tiers.TierAudience.WhyNotAsync(conn, null, shop, tierId, lockTier: false, ct) is { } why) Add("tierId", why);
            }
        }
        if (r.Code is not null && r.Codes is not null) Add("code", "Give either a code or a codes pattern, not both.");
        if (r.Code is not null && !CodeText().IsMatch(r.Code)) Add("code", "1-64 letters, digits, '-' or '_'.");

        var count = r.Codes?.Count ?? 1;
        var prefix = r.Codes?.Prefix?.ToUpperInvariant() ?? "";
        var length = r.Codes?.Length ?? 8;
        var format = r.Codes?.Format?.ToLowerInvariant() ?? CodeFormats.Random;
        var pattern = r.Codes?.Pattern?.ToUpperInvariant();
        if (r.Codes is not null)
        {
            if (count is < 1 or > 100_000) Add("codes.count", "Between 1 and 100,000 codes.");
            if (!PrefixText().IsMatch(prefix)) Add("codes.prefix", "Up to 20 of A-Z, 0-9, '-' or '_'.");
            var shape = format switch
            {
                CodeFormats.Random when length is < 4 or > 32 => ("codes.length", "Between 4 and 32 random characters."),
                CodeFormats.Pattern when CodeFormats.PatternError(pattern) is { } error => ("codes.pattern", error),
                CodeFormats.Random or CodeFormats.Pattern or CodeFormats.Uuid => default,
                _ => ("codes.format", "random, pattern or uuid."),
            };
            if (shape.Item1 is not null)
            {
                Add(shape.Item1, shape.Item2);
            }
            else
            {
                // Random codes: the birthday bound, expected collisions ≈ n² / (2 × space) below one in a thousand. A pattern is the
                // merchant's chosen shape (short, easy to type): codes that collide are drawn again, but one guess in a hundred
                // must not find a live code, so a campaign takes at most a hundredth of its space.
                var space = CodeFormats.Space(format, length, pattern);
                if (format == CodeFormats.Pattern && count > space / 100)
                {
                    Add("codes.pattern",
                        $"{pattern} allows at most {(long)(space / 100):N0} codes (a hundredth of its {space:N0}); use a longer pattern.");
                }
                else if (format == CodeFormats.Random && (double)count * count / (2 * space) > 0.001)
                {
                    var max = (long)Math.Sqrt(0.002 * space);
                    Add("codes.length", $"{length} random characters allow at most {max:N0} codes with negligible collisions; use a longer length.");
                }
            }
        }
        if (errors.Count > 0)
        {
            return Problems.Validation("invalid_campaign", "Some campaign fields are not valid.", "See errors for each field.",
                new Dictionary<string, object?> { ["errors"] = errors });
        }

        long id;
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            // A concurrent request with the same key waits here for the first one's commit, then inserts nothing.
            var inserted = await conn.QuerySingleOrDefaultAsync<long?>(new CommandDefinition("""
                INSERT INTO campaigns (shop_domain, title, discount_type, value, starts_at, ends_at, usage_limit, once_per_customer, minimum_subtotal,
                                       combines_product, combines_order, combines_shipping, customer_ids, tier_id, requested_codes, state,
                                       idempotency_key, request_hash)
                VALUES (@shop, @title, @type, @value, @startsAt, @endsAt, @UsageLimit, @once, @MinimumSubtotal, @product, @order, @shipping,
                        @customers, @TierId, @count, @creating, @idempotencyKey, @requestHash)
                ON CONFLICT (shop_domain, idempotency_key) DO NOTHING
                RETURNING id
                """, new
            {
                shop, title, type = r.Percentage is null ? "fixed_amount" : "percentage", value = r.Percentage ?? r.FixedAmount, startsAt, endsAt,
                r.UsageLimit, once = r.OncePerCustomer ?? false, r.MinimumSubtotal, product = r.CombinesWith?.Product ?? false,
                order = r.CombinesWith?.Order ?? false, shipping = r.CombinesWith?.Shipping ?? false,
                customers = r.CustomerIds is { Length: > 0 } c2 ? c2 : null, r.TierId, count, creating = CampaignState.Creating, idempotencyKey,
                requestHash,
            }, tx, cancellationToken: ct));
            if (inserted is not { } newId)
            {
                await tx.RollbackAsync(ct);
                var first = (await EarlierAsync(db, shop, idempotencyKey!, ct))!;
                return first.RequestHash == requestHash ? await AnswerAsync(first.Id) : KeyReused();
            }
            id = newId;
            // Checked again under the tier's lock (FOR SHARE) until this commits: a concurrent archive or change of its tag, which locks
            // it FOR UPDATE and then looks for its campaigns, waits for this one and sees it, or went first and is seen here.
            if (r.TierId is { } lockedTier) await Tiers.TierAudience.LockTagsAsync(conn, tx, shop, ct);
            if (r.TierId is { } checkedTier && await Tiers.TierAudience.WhyNotAsync(conn, tx, shop, checkedTier, lockTier: true, ct) is { } changed)
            {
                await tx.RollbackAsync(ct);
                return Problems.Validation("invalid_campaign", "Some campaign fields are not valid.", "See errors for each field.",
                    new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { ["tierId"] = [changed] } });
            }

            if (r.Code is not null)
            {
                var reserved = await conn.ExecuteAsync(new CommandDefinition("""
                    INSERT INTO campaign_codes (campaign_id, shop_domain, code, seq, state) VALUES (@id, @shop, @Code, 0, @pending)
                    ON CONFLICT DO NOTHING
                    """, new { id, shop, r.Code, pending = CodeState.Pending }, tx, cancellationToken: ct));
                if (reserved == 0) return Problems.Validation("code_taken", "That code is already used by another campaign.");
            }
            else if (!await CodeFormats.InsertAsync(conn, tx, id, shop, () => CodeFormats.Next(format, prefix, length, pattern), count, ct))
            {
                // The shop's other campaigns took nearly every code of this shape: nothing is kept, nothing was sent.
                await tx.RollbackAsync(ct);
                var shape = format == CodeFormats.Pattern ? "pattern" : "length";
                var full = $"The shop's other campaigns already use nearly every code of this {shape}.";
                return Problems.Validation("invalid_campaign", "Some campaign fields are not valid.", "See errors for each field.",
                    new Dictionary<string, object?>
                    {
                        ["errors"] = new Dictionary<string, string[]>
                        {
                            [format == CodeFormats.Pattern ? "codes.pattern" : "codes.length"] = [full],
                        },
                    });
            }
            await tx.CommitAsync(ct);
        }

        return await AnswerAsync(id);
    }

    private sealed record Earlier(long Id, string RequestHash);

    private static async Task<Earlier?> EarlierAsync(NpgsqlDataSource db, string shop, string idempotencyKey, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<Earlier>(new CommandDefinition(
            "SELECT id, request_hash FROM campaigns WHERE shop_domain = @shop AND idempotency_key = @idempotencyKey",
            new { shop, idempotencyKey }, cancellationToken: ct));
    }

    private static ProblemHttpResult KeyReused() => Problems.Create(StatusCodes.Status409Conflict, "idempotency_key_reused",
        "This Idempotency-Key was already used for a different campaign.", "Send a new key for a new campaign.");

    /// <summary>The answer for a stored campaign, first time or resent: it is finished (201; many codes: 202), goes on in the background (202) or was
    /// refused (502).</summary>
    private static async Task<Results<Created<CampaignQueries.CampaignView>, Accepted<CampaignQueries.CampaignView>,
    ProblemHttpResult>> AnswerForAsync(
        NpgsqlDataSource db, CampaignGeneration generation, IBackgroundJobClient jobs, CampaignOptions options, ILoggerFactory loggers, string shop,
        long id, CancellationToken ct)
    {
        var (outcome, view) = await ResumeCampaign.RunAsync(db, generation, jobs, options, loggers, shop, id, ct);
        if (outcome == ResumeCampaign.Outcome.Failed) return ResumeCampaign.CreationFailed(view);
        return outcome == ResumeCampaign.Outcome.Done && view.RequestedCodes == 1
            ? TypedResults.Created($"/api/admin/campaigns/{id}", view)
            : TypedResults.Accepted($"/api/admin/campaigns/{id}", view);
    }
}
