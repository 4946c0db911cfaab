using Dapper;

namespace Loyalty.Bench;

/// <summary>Whether the run is quiet yet: the work still under way in the app's tables, counted and described.</summary>
public static partial class SoakChecker
{
    /// <summary>Work still under way: conversions not terminal or with a repair pending, unprocessed webhooks, undelivered POS changes.</summary>
    public static Task<long> InFlightAsync(BenchEnvironment env) => env.ScalarAsync<long>("""
        SELECT (SELECT count(*) FROM conversions
                WHERE state IN ('pending', 'coupon_created', 'settling', 'compensating')
                   OR state = 'completed' AND (metafield_synced_at IS NULL OR coupon_status = 'cancelling'))
             + (SELECT count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing'))
             + (SELECT count(*) FROM pos_outbox WHERE state = 'pending')
        """);

    public static async Task<string> DescribeInFlightAsync(BenchEnvironment env)
    {
        await using var conn = env.Connection();
        var rows = await conn.QueryAsync<(string What, long N)>("""
            SELECT 'conversion ' || state || CASE WHEN state = 'completed' THEN '/' || coupon_status || CASE WHEN metafield_synced_at IS NULL THEN
                '/metafield' ELSE '' END ELSE '' END, count(*)
            FROM conversions
            WHERE state IN ('pending', 'coupon_created', 'settling', 'compensating')
               OR state = 'completed' AND (metafield_synced_at IS NULL OR coupon_status = 'cancelling')
            GROUP BY 1
            UNION ALL SELECT 'webhook ' || status, count(*) FROM webhook_deliveries WHERE status IN ('pending', 'processing') GROUP BY 1
            UNION ALL SELECT 'pos_outbox pending', count(*) FROM pos_outbox WHERE state = 'pending' HAVING count(*) > 0
            """);
        return string.Join(", ", rows.Select(r => $"{r.What} ×{r.N}"));
    }
}
