using Dapper;

namespace Loyalty.Bench;

/// <summary>
/// <c>award-ceiling --parts N</c>: what the ledger costs an award made at intake, measured in N passes after the rounds, each three
/// phases with plans kept, their order rotated from pass to pass: the script as the app would run it; the same with the ledger's
/// checks switched off (the row check before each ledger row and the commit-time sum after each balance written); and without the
/// ledger's rows as well, for returning customers of their own (ids above <see cref="Customers"/>, their balance rows vacuumed once
/// made), whose balances are then no longer their ledgers' sums. Neither of the last two is a design the app may use: they say how
/// much of the database's work per award the ledger's rows and guarantees are, against issue 16's award target. Judged as the rounds
/// are, each range of customers' balances summed against pgbench's own count of groups, and every customer's balance against the
/// ledger's rows (or, in the second range, the orders' awards) it was written with.
/// </summary>
public static partial class AwardCeiling
{
    private const string ChecksOff = "ALTER TABLE point_transactions DISABLE TRIGGER point_transactions_check; " +
                                     "ALTER TABLE point_balances DISABLE TRIGGER point_balances_match_ledger";

    private const string ChecksOn = "ALTER TABLE point_transactions ENABLE TRIGGER point_transactions_check; " +
                                    "ALTER TABLE point_balances ENABLE TRIGGER point_balances_match_ledger";

    private enum Part { AsTheApp, WithoutChecks, WithoutLedgerRows }

    private static string Label(Part part) => part switch
    {
        Part.AsTheApp => "as the app would",
        Part.WithoutChecks => "without the ledger's checks",
        _ => "without the ledger's rows too",
    };

    /// <summary>The parts' passes: the groups that wrote ledger rows, and those that did not (customers above <see cref="Customers"/>).</summary>
    private static async Task<(long LedgerGroups, long BareGroups)> RunPartsAsync(BenchEnvironment env, string script, int passes, int seconds,
        int clients, int postmaster, CancellationToken ct)
    {
        var bare = Path.Combine(env.Directory, "award-ceiling-without-ledger.sql");
        await File.WriteAllTextAsync(bare, Script(ledgerRows: false, firstCustomer: Customers + 1), ct);
        await using var conn = env.Connection();
        await conn.ExecuteAsync("INSERT INTO point_balances (shop_domain, customer_id) SELECT @shop, generate_series(@first, @last)",
            new { shop = BenchEnvironment.Shop, first = Customers + 1, last = 2 * Customers });
        await conn.ExecuteAsync("VACUUM ANALYZE point_balances"); // not left for autovacuum to do during a measured phase
        Console.WriteLine($"# what the ledger costs: {passes} passes of three phases, plans kept, {seconds} s each, their order rotated");
        Console.WriteLine("| pass | as the app would: awards/s | PostgreSQL CPU ms per award | without the ledger's checks: awards/s | " +
                          "PostgreSQL CPU ms per award | without the ledger's rows too: awards/s | PostgreSQL CPU ms per award |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|---:|");
        long ledgerGroups = 0, bareGroups = 0;
        try
        {
            for (var pass = 1; pass <= passes; pass++)
            {
                var measured = new Dictionary<Part, (double Rate, double Cpu)>();
                for (var k = 0; k < 3; k++)
                {
                    var part = (Part)((k + pass - 1) % 3);
                    await conn.ExecuteAsync(part == Part.AsTheApp ? ChecksOn : ChecksOff);
                    var (rate, cpu, groups) = await AwardPhaseAsync(env, part == Part.WithoutLedgerRows ? bare : script, Label(part), seconds,
                        clients, postmaster, null, ct);
                    if (part == Part.WithoutLedgerRows) bareGroups += groups;
                    else ledgerGroups += groups;
                    measured[part] = (rate, cpu);
                }
                Console.WriteLine($"| {pass} | {string.Join(" | ", Enum.GetValues<Part>().Select(p =>
                    $"{Stats.F(measured[p].Rate, 0)} | {Stats.F(measured[p].Cpu, 2)}"))} |");
            }
        }
        finally
        {
            await conn.ExecuteAsync(ChecksOn);
        }
        return (ledgerGroups, bareGroups);
    }

    /// <summary>
    /// The balances of each range of customers against pgbench's count (every balance starts at zero and only the script's awards
    /// add to it); every customer's balance against its ledger rows (the first range) or its orders' awards (the second), since the
    /// commit-time sum was off for some phases; and the groups without ledger rows each by itself: six orders awarded with their
    /// points, no ledger row among them.
    /// </summary>
    private static async Task<bool> BalancesAndBareGroupsExactAsync(BenchEnvironment env, long ledgerGroups, long bareGroups)
    {
        await using var conn = env.Connection();
        var (withLedger, withoutLedger, strayPoints, unequal) = await conn.QuerySingleAsync<(long, long, long, long)>("""
            WITH ledger AS (SELECT customer_id, sum(points) AS points FROM point_transactions WHERE shop_domain = @shop GROUP BY 1),
                 awarded AS (SELECT customer_id, sum(awarded_points) AS points FROM order_earnings
                             WHERE shop_domain = @shop AND order_id >= 1000000000 GROUP BY 1)
            SELECT coalesce(sum(b.balance) FILTER (WHERE b.customer_id <= @customers), 0)::bigint,
                   coalesce(sum(b.balance) FILTER (WHERE b.customer_id > @customers), 0)::bigint,
                   coalesce(sum(l.points) FILTER (WHERE b.customer_id > @customers), 0)::bigint,
                   count(*) FILTER (WHERE b.balance <> coalesce(CASE WHEN b.customer_id <= @customers THEN l.points ELSE a.points END, 0))
            FROM point_balances b LEFT JOIN ledger l USING (customer_id) LEFT JOIN awarded a USING (customer_id)
            WHERE b.shop_domain = @shop
            """, new { shop = BenchEnvironment.Shop, customers = Customers });
        var (counted, wrong) = await conn.QuerySingleAsync<(long, long)>("""
            SELECT count(*), count(*) FILTER (WHERE n <> @group OR p <> @groupPoints)
            FROM (SELECT order_id / 10 AS g, count(*) AS n, sum(awarded_points) AS p FROM order_earnings
                  WHERE shop_domain = @shop AND order_id >= 1000000000 AND customer_id > @customers GROUP BY 1) per_group
            """, new { shop = BenchEnvironment.Shop, customers = Customers, group = Group, groupPoints = GroupPoints });
        var exact = withLedger == ledgerGroups * GroupPoints && withoutLedger == bareGroups * GroupPoints && strayPoints == 0 && unequal == 0
                    && counted == bareGroups && wrong == 0;
        Console.WriteLine($"balances: {withLedger} points for {ledgerGroups} groups with ledger rows, {withoutLedger} for {bareGroups} without " +
                          $"({counted} such groups recorded, {wrong} of them not {Group} awards and {GroupPoints} points, " +
                          $"{strayPoints} ledger points among them); {unequal} customers' balances not what their rows add up to: " +
                          $"{(exact ? "exact" : "NOT exact")}");
        return exact;
    }
}
