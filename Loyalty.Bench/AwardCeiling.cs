using Dapper;

namespace Loyalty.Bench;

/// <summary>
/// <c>award-ceiling</c>: what the database alone allows an award made in the intake's own group transaction, the design issue 16's
/// award target points to (docs/benchmarks.md), before the app is changed to make it. pgbench runs <see cref="Script"/> on the app's
/// migrated schema and installed shop, on this bench's durable PostgreSQL: per transaction, a group of nine <c>orders/paid</c>
/// deliveries (about what the intake's groups held with 32 senders), six new plain orders of returning customers and three
/// redeliveries of deliveries already stored and decided, checked as the app would have to (the shop installed, not on the POS, no
/// pending period, tiers, event endpoints or Flow workflows; the order not decided, no refund waiting for it, no tier row of its
/// customer, nothing about the customer or the order waiting in the inbox; the rule in force when it was paid), the new ones stored
/// already processed, the orders' records, the ledger's rows with the balance each leads to, and the balances, the schema's row check
/// and commit-time sum firing as for the app's own rows. Beside it in each round, pgbench's single-insert ceiling. Each round twice,
/// its statements prepared as the app's are: planned on every call (the app's sessions: <c>plan_cache_mode = force_custom_plan</c>;
/// the row check keeps its own generic plan, as migration 0039 has it), then with PostgreSQL's default plan cache, which keeps a
/// generic plan once it looks no dearer (as a PL/pgSQL function of the app's with its own plan setting could). Judged by pgbench's
/// own count of transactions and each group by itself: six awards and their points in the ledger, no more. <c>--parts N</c> then
/// measures what the ledger costs it (AwardCeilingParts.cs).
/// </summary>
public static partial class AwardCeiling
{
    /// <summary>New paid orders in a group; with <see cref="Redeliveries"/> nine deliveries, as the comparison's 30 % redeliveries make
    /// them.</summary>
    private const int Group = 6;

    /// <summary>Deliveries of a group that repeat one already stored and decided (one of <see cref="Seeded"/>): dropped, nothing awarded.</summary>
    private const int Redeliveries = 3;

    private const int Seeded = 1000;

    private const int Customers = 100_000;

    /// <summary>The points of one group at the shop's rate of 1 on the total: floor(100 + i) for i = 1..6.</summary>
    private const long GroupPoints = 621;

    /// <summary>The ledger's row of each award, with the balance it leads to (left out by <see cref="Script"/> for a part without it).</summary>
    private static readonly string LedgerRows = $$"""
        INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, order_id, rate, basis_amount,
                                        currency, balance_after, occurred_at)
        SELECT '{{BenchEnvironment.Shop}}', e.customer_id, e.awarded_points, 'order_award', 'order:' || e.order_id,
               'Order #' || e.order_id || ': ' || e.basis_amount || ' USD × ' || e.rate, 'system', e.order_id, e.rate, e.basis_amount, 'USD',
               b.balance + e.awarded_points, e.priced_at
        FROM order_earnings e JOIN point_balances b ON b.shop_domain = '{{BenchEnvironment.Shop}}' AND b.customer_id = e.customer_id
        WHERE e.shop_domain = '{{BenchEnvironment.Shop}}' AND e.order_id BETWEEN :g * 10 + 1 AND :g * 10 + {{Group}} AND e.awarded_points > 0
        ORDER BY e.customer_id;
        """;

    /// <summary>
    /// One group's transaction for pgbench; <paramref name="ledgerRows"/> false leaves the ledger's rows out, and
    /// <paramref name="firstCustomer"/> is the first id of the returning customers the new orders belong to.
    /// </summary>
    private static string Script(bool ledgerRows = true, int firstCustomer = 1) => $$"""
        \set base random(1, {{Customers}})
        \set r1 random(1, {{Seeded}})
        \set r2 random(1, {{Seeded}})
        \set r3 random(1, {{Seeded}})
        SELECT nextval('ceiling_groups') AS g \gset
        BEGIN;
        SELECT pg_advisory_xact_lock(hashtextextended(k, 0))
        FROM (SELECT '{{BenchEnvironment.Shop}}:' || o AS k
              FROM (SELECT generate_series(:g * 10 + 1, :g * 10 + {{Group}}) UNION ALL VALUES (900000000 + :r1::bigint), (900000000 + :r2::bigint),
                           (900000000 + :r3::bigint)) AS x(o)
              ORDER BY 1) AS sorted;
        WITH grp AS (
            SELECT :g * 10 + i AS order_id, ((:base + i * 1919) % {{Customers}}) + {{firstCustomer}} AS customer_id,
                   'ceiling-' || (:g * 10 + i) AS webhook_id,
                   (100 + i)::numeric(18,4) AS amount, now() - interval '1 second' AS paid_at
            FROM generate_series(1, {{Group}}) i
            UNION ALL
            SELECT 900000000 + r, r, 'ceiling-seed-' || r, 100, now() - interval '1 second'
            FROM (VALUES (:r1::bigint), (:r2::bigint), (:r3::bigint)) AS seen(r)),
        shop AS (
            SELECT st.earn_rate AS rate
            FROM shops s JOIN shop_settings st USING (shop_domain)
            WHERE s.shop_domain = '{{BenchEnvironment.Shop}}' AND s.state = 'installed' AND st.balance_source <> 'pos' AND st.pending_days = 0
              AND NOT EXISTS (SELECT 1 FROM tiers WHERE shop_domain = '{{BenchEnvironment.Shop}}' AND archived_at IS NULL)
              AND NOT EXISTS (SELECT 1 FROM event_endpoints WHERE shop_domain = '{{BenchEnvironment.Shop}}')
              AND NOT EXISTS (SELECT 1 FROM flow_trigger_usage WHERE shop_domain = '{{BenchEnvironment.Shop}}' AND enabled)),
        ok AS (
            SELECT g.*, coalesce((SELECT c.earn_rate FROM earn_rule_changes c WHERE c.shop_domain = '{{BenchEnvironment.Shop}}'
                                  AND date_trunc('second', c.effective_at) <= g.paid_at ORDER BY c.effective_at DESC LIMIT 1), s.rate) AS rate
            FROM grp g CROSS JOIN shop s
            WHERE NOT EXISTS (SELECT 1 FROM order_earnings e WHERE e.shop_domain = '{{BenchEnvironment.Shop}}' AND e.order_id = g.order_id)
              AND NOT EXISTS (SELECT 1 FROM order_refunds f WHERE f.shop_domain = '{{BenchEnvironment.Shop}}' AND f.order_id = g.order_id
                              AND f.applied_at IS NULL)
              AND NOT EXISTS (SELECT 1 FROM customer_tiers t WHERE t.shop_domain = '{{BenchEnvironment.Shop}}' AND t.customer_id = g.customer_id)
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.shop_domain = '{{BenchEnvironment.Shop}}'
                              AND w.status IN ('pending', 'processing') AND (w.customer_id = g.customer_id OR w.order_id = g.order_id))),
        stored AS (
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id, order_id, status, processed_at)
            SELECT g.webhook_id, '{{BenchEnvironment.Shop}}', 'orders/paid', '2026-10',
                   '{"id":' || g.order_id || ',"note":"' || repeat('x', 1450) || '"}',
                   g.customer_id, g.order_id, CASE WHEN ok.order_id IS NULL THEN 'pending' ELSE 'processed' END,
                   CASE WHEN ok.order_id IS NULL THEN NULL ELSE now() END
            FROM grp g LEFT JOIN ok USING (order_id) ORDER BY g.webhook_id
            ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id, status)
        INSERT INTO order_earnings (shop_domain, order_id, order_name, customer_id, status, basis, basis_amount, currency, rate, order_total,
                                    awarded_points, source, priced_at, priced_by, tier_multiplier)
        SELECT '{{BenchEnvironment.Shop}}', ok.order_id, '#' || ok.order_id, ok.customer_id, 'awarded', 'total', ok.amount, 'USD', ok.rate, ok.amount,
               floor(ok.amount * ok.rate), 'webhook', ok.paid_at, 'paid', 1
        FROM ok JOIN stored USING (webhook_id) WHERE stored.status = 'processed' ORDER BY ok.order_id
        ON CONFLICT DO NOTHING;
        INSERT INTO point_balances (shop_domain, customer_id)
        SELECT '{{BenchEnvironment.Shop}}', customer_id FROM order_earnings
        WHERE shop_domain = '{{BenchEnvironment.Shop}}' AND order_id BETWEEN :g * 10 + 1 AND :g * 10 + {{Group}} ORDER BY customer_id
        ON CONFLICT DO NOTHING;
        SELECT 1 FROM point_balances WHERE shop_domain = '{{BenchEnvironment.Shop}}' AND customer_id IN (SELECT customer_id FROM order_earnings
            WHERE shop_domain = '{{BenchEnvironment.Shop}}' AND order_id BETWEEN :g * 10 + 1 AND :g * 10 + {{Group}}) ORDER BY customer_id FOR UPDATE;
        {{(ledgerRows ? LedgerRows : "-- (this part writes no ledger rows)")}}
        UPDATE point_balances b SET balance = b.balance + e.awarded_points, total_earned = b.total_earned + e.awarded_points, updated_at = now()
        FROM order_earnings e
        WHERE e.shop_domain = '{{BenchEnvironment.Shop}}' AND e.order_id BETWEEN :g * 10 + 1 AND :g * 10 + {{Group}} AND e.awarded_points > 0
          AND b.shop_domain = '{{BenchEnvironment.Shop}}' AND b.customer_id = e.customer_id;
        COMMIT;

        """;

    public static async Task<int> RunAsync(int seconds, int rounds, int clients, int parts, int seed, CancellationToken ct)
    {
        await using var env = await BenchEnvironment.StartAsync(seed, durable: true, ct);
        var app = await env.StartAppAsync(new Dictionary<string, string> { ["Jobs:Schedules:missed-orders-sweep"] = "" }, ct);
        await BenchEnvironment.InstallShopAsync(app, new { earnRate = 1m, earnBasis = "total" }, ct);
        app.Kill(); // the schema and the shop are what is needed; the database's cores are the script's alone
        await using (var conn = env.Connection())
        {
            // Returning customers (a balance row each) and the deliveries a group repeats: stored, processed, their orders decided.
            await conn.ExecuteAsync("""
                CREATE SEQUENCE ceiling_groups START 100000000;
                INSERT INTO point_balances (shop_domain, customer_id) SELECT @shop, generate_series(1, @customers);
                INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id, order_id, status, processed_at)
                SELECT 'ceiling-seed-' || k, @shop, 'orders/paid', '2026-10', '{"id":' || (900000000 + k) || '}', k, 900000000 + k, 'processed',
                       now()
                FROM generate_series(1, @seeded) k;
                INSERT INTO order_earnings (shop_domain, order_id, customer_id, status, skip_reason, source)
                SELECT @shop, 900000000 + k, k, 'skipped', 'seeded for award-ceiling', 'webhook' FROM generate_series(1, @seeded) k;
                """, new { shop = BenchEnvironment.Shop, customers = Customers, seeded = Seeded });
        }
        var script = Path.Combine(env.Directory, "award-ceiling.sql");
        await File.WriteAllTextAsync(script, Script(), ct);
        var postmaster = CpuProfile.PostmasterPid(env);
        Console.WriteLine($"# award at intake, the database's ceiling: groups of {Group} new plain paid orders and {Redeliveries} redeliveries, " +
                          $"{clients} pgbench clients, {seconds} s " +
                          $"a phase, {rounds} rounds, durable PostgreSQL; CPU from /proc (PostgreSQL's processes only)");
        Console.WriteLine("| round | pgbench single insert tps | planned each call: awards/s | PostgreSQL CPU ms per award | " +
                          "plans kept: awards/s | " +
                          "PostgreSQL CPU ms per award |");
        Console.WriteLine("|---:|---:|---:|---:|---:|---:|");
        long groups = 0;
        for (var round = 1; round <= rounds; round++)
        {
            var single = await PgBench.InsertCeilingAsync(env, seconds, clients, ct);
            var (simple, simpleCpu, simpleGroups) = await AwardPhaseAsync(env, script, "planned each call", seconds, clients,
                postmaster, "-c plan_cache_mode=force_custom_plan", ct);
            var (prepared, preparedCpu, preparedGroups) = await AwardPhaseAsync(env, script, "plans kept", seconds, clients,
                postmaster, null, ct);
            groups += simpleGroups + preparedGroups;
            Console.WriteLine($"| {round} | {Stats.F(single, 0)} | {Stats.F(simple, 0)} | {Stats.F(simpleCpu, 2)} | {Stats.F(prepared, 0)} | " +
                              $"{Stats.F(preparedCpu, 2)} |");
        }
        var (partsGroups, bareGroups) = parts > 0 ? await RunPartsAsync(env, script, parts, seconds, clients, postmaster, ct) : (0, 0);
        groups += partsGroups;

        await using var check = env.Connection();
        // Each group by itself (its orders are g * 10 + 1 … + 6), so a group's loss cannot hide behind another's surplus.
        var (counted, wrong, rows, points) = await check.QuerySingleAsync<(long, long, long, long)>("""
            SELECT count(*), count(*) FILTER (WHERE n <> @group OR p <> @groupPoints), coalesce(sum(n), 0)::bigint, coalesce(sum(p), 0)::bigint
            FROM (SELECT order_id / 10 AS g, count(*) AS n, sum(points) AS p FROM point_transactions
                  WHERE shop_domain = @shop AND order_id >= 1000000000 AND kind = 'order_award' GROUP BY 1) per_group
            """, new { shop = BenchEnvironment.Shop, group = Group, groupPoints = GroupPoints });
        var exact = groups > 0 && counted == groups && wrong == 0 && rows == groups * Group && points == groups * GroupPoints;
        Console.WriteLine($"ledger: {rows} awards and {points} points in {counted} groups, {wrong} of them not {Group} awards and {GroupPoints} " +
                          $"points; pgbench counted {groups} groups: {(exact ? "exact" : "NOT exact")}");
        exact &= await BalancesAndBareGroupsExactAsync(env, groups, bareGroups) && (parts == 0 || bareGroups > 0);
        Console.WriteLine(exact ? "RESULT: every group pgbench counted awarded exactly once, with its points" : "RESULT: VIOLATION");
        return exact ? 0 : 1;
    }

    /// <summary>One phase of the script: awards a second, PostgreSQL's CPU ms per award, and the groups pgbench counted.</summary>
    private static async Task<(double AwardsPerSecond, double CpuMsPerAward, long Groups)> AwardPhaseAsync(BenchEnvironment env, string script,
        string phase, int seconds, int clients, int postmaster, string? serverOptions, CancellationToken ct)
    {
        await Task.Delay(TimeSpan.FromSeconds(2), ct); // the last phase's backends gone (counted in the postmaster's children) before the count
        var before = CpuProfile.PostgresSeconds(postmaster);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var (_, processed) = await PgBench.RunAsync(env, script, "prepared", seconds, clients, serverOptions, ct);
        var elapsed = clock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(2), ct); // and its backends reaped before the second count, not while it is read
        var cpu = CpuProfile.PostgresSeconds(postmaster) - before;
        Console.WriteLine($"# {phase}: {processed} groups in {Stats.F(elapsed, 1)} s, PostgreSQL {Stats.F(cpu, 1)} CPU s " +
                          $"({Stats.F(cpu / elapsed, 2)} cores)");
        // By the wall clock around pgbench, not its tps (which leaves its connections' start-up time out).
        return (processed * Group / elapsed, processed == 0 ? 0 : 1000 * cpu / (processed * Group), processed);
    }
}
