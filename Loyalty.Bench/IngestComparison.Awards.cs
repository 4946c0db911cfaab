using System.Diagnostics;
using Dapper;

namespace Loyalty.Bench;

/// <summary>Where <see cref="IngestComparison"/> counts each target's awards, and its wait for them.</summary>
public static partial class IngestComparison
{
    /// <summary>
    /// Waits until the awards are all there, judged by counting them. The peer awards before it answers, so it is counted a
    /// time or two; Loyalty awards in the background, and counting its awards every 50 ms while it drains (a sum over the
    /// ledger, 5-10 ms of the database each) took about a tenth of the database from the work being measured. So for Loyalty
    /// the wait asks the cheap question first (is any delivery still pending or processing? the partial index's first entry answers it) and
    /// counts the awards only when none is.
    /// </summary>
    private static async Task WaitForAwardsAsync(BenchEnvironment env, Awards awardsOf, long firstOrder, int expected, TimeSpan limit,
        CancellationToken ct)
    {
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < limit)
        {
            var drained = awardsOf.Inline
                || !await env.ScalarAsync<bool>("SELECT EXISTS (SELECT 1 FROM webhook_deliveries WHERE status IN ('pending', 'processing'))");
            if (drained && (await AwardsAsync(env, awardsOf, firstOrder, ct)).Count >= expected) return;
            await Task.Delay(50, ct);
        }
    }

    private static async Task<(long Count, long Points)> AwardsAsync(BenchEnvironment env, Awards awards, long firstOrder, CancellationToken ct)
    {
        await using var conn = env.Connection();
        return await conn.QuerySingleAsync<(long Count, long Points)>(new CommandDefinition(
            $"SELECT count(*) AS count, coalesce(sum(points), 0)::bigint AS points FROM {awards.From} AND order_id >= @firstOrder AND " +
            "order_id < @firstOrder + 9000000", new { firstOrder, shop = awards.Shop }, cancellationToken: ct));
    }

    /// <summary>
    /// Where a target's awards are counted: <see cref="From"/> is a FROM with its WHERE (<c>@shop</c> the shop's domain); inline when the
    /// target awards before it answers (the peer, the floors), not when it awards in the background (Loyalty).
    /// </summary>
    private sealed record Awards(string From, string? Shop, bool Inline)
    {
        public static Awards Table(string table) => new($"{table} WHERE true", null, Inline: true);

        public static Awards Ledger(string shop, bool inline) =>
            new("point_transactions WHERE kind = 'order_award' AND shop_domain = @shop", shop, inline);
    }

    private static string Words(int n) => n switch
    {
        3 => "three", 4 => "four", 5 => "five", _ => n.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
