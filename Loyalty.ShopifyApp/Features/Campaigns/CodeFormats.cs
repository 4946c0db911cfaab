using System.Security.Cryptography;

namespace Loyalty.ShopifyApp.Features.Campaigns;

/// <summary>
/// How a campaign's generated codes look (seed 001's <c>coupon_id_format</c>), each after the campaign's prefix:
/// <c>random</c> (the default) is <c>length</c> characters of <see cref="CreateCampaign.Alphabet"/>; <c>pattern</c> follows a
/// pattern such as the seed's one letter then five digits, <c>A99999</c> (<c>A</c> a letter, <c>9</c> a digit, <c>X</c> either,
/// <c>-</c> itself; letters and digits without look-alikes); <c>uuid</c> is a random UUID.
/// </summary>
public static class CodeFormats
{
    public const string Random = "random";
    public const string Pattern = "pattern";
    public const string Uuid = "uuid";

    private const string Letters = "ABCDEFGHJKMNPQRSTUVWXYZ";
    private const string Digits = "23456789";

    /// <summary>Why <paramref name="pattern"/> cannot be used, or null.</summary>
    public static string? PatternError(string? pattern) =>
        pattern is null or { Length: 0 or > 32 } ? "A pattern of 1-32 characters is required for the pattern format."
        : pattern.Any(c => c is not ('A' or '9' or 'X' or '-')) ? "Use A (a letter), 9 (a digit), X (either) and '-' only."
        : !pattern.Any(c => c is 'A' or '9' or 'X') ? "The pattern needs at least one A, 9 or X."
        : null;

    /// <summary>How many different codes the format can make (after the prefix).</summary>
    public static double Space(string format, int length, string? pattern) => format switch
    {
        Uuid => Math.Pow(2, 122),
        Pattern => pattern!.Aggregate(1d, (space, c) => space * c switch
        {
            'A' => Letters.Length,
            '9' => Digits.Length,
            'X' => CreateCampaign.Alphabet.Length,
            _ => 1,
        }),
        _ => Math.Pow(CreateCampaign.Alphabet.Length, length),
    };

    /// <summary>A new code of the format, after <paramref name="prefix"/>.</summary>
    public static string Next(string format, string prefix, int length, string? pattern) => prefix + format switch
    {
        Uuid => Guid.NewGuid().ToString("D").ToUpperInvariant(),
        Pattern => string.Create(pattern!.Length, pattern, (span, p) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = p[i] switch
            {
                'A' => Pick(Letters),
                '9' => Pick(Digits),
                'X' => Pick(CreateCampaign.Alphabet),
                var literal => literal,
            };
        }),
        _ => string.Create(length, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = Pick(CreateCampaign.Alphabet);
        }),
    };

    private static char Pick(string from) => from[RandomNumberGenerator.GetInt32(from.Length)];

    /// <summary>
    /// Inserts <paramref name="count"/> unique codes made by <paramref name="next"/> (regenerating any that collide), in chunks;
    /// false when 20 rounds of draws in a row found no free code (the shop's campaigns fill the format's space).
    /// </summary>
    internal static async Task<bool> InsertAsync(NpgsqlConnection conn, NpgsqlTransaction tx, long id, string shop, Func<string> next,
        int count, CancellationToken ct)
    {
        // One campaign's codes at a time per shop: another's uncommitted codes are invisible to the check below, and would meet
        // this one's at the unique index instead.
        await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock(hashtextextended(@key, 0))",
            new { key = $"campaign-codes:{shop}" }, tx, cancellationToken: ct));
        var seq = 0;
        for (var fruitless = 0; seq < count; )
        {
            if (fruitless == 20) return false;
            // Draw more than needed (a crowded shape then still finds its free codes) and keep only what is needed.
            var needed = count - seq;
            var chunk = Enumerable.Range(0, Math.Min(5000, Math.Max(1000, needed * 2))).Select(_ => next()).Distinct().ToArray();
            var inserted = await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO campaign_codes (campaign_id, shop_domain, code, seq, state)
                SELECT @id, @shop, code, @seq + (row_number() OVER () - 1)::int, @pending
                FROM (SELECT c AS code FROM unnest(@chunk) AS c
                      WHERE NOT EXISTS (SELECT 1 FROM campaign_codes x
                                        WHERE x.shop_domain = @shop AND upper(x.code) = upper(c) AND x.state <> @released)
                      LIMIT @needed) fresh
                """, new { id, shop, seq, chunk, needed, pending = CodeState.Pending, released = CodeState.Released }, tx,
                cancellationToken: ct));
            seq += inserted;
            fruitless = inserted == 0 ? fruitless + 1 : 0;
        }
        return true;
    }
}
