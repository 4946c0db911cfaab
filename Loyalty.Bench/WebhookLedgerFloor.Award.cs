using Npgsql;
using NpgsqlTypes;

namespace Loyalty.Bench;

/// <summary>One group's transaction of the ledger floor (<see cref="WebhookLedgerFloor"/>): the statements award-ceiling's script runs.</summary>
public static partial class WebhookLedgerFloor
{
    /// <summary>The orders' locks, in key order (every group takes them the same way).</summary>
    private const string LockOrders = """
        SELECT pg_advisory_xact_lock(hashtextextended(k, 0)) FROM (SELECT $1 || ':' || o AS k FROM unnest($2::bigint[]) o ORDER BY 1) AS sorted
        """;

    private const string EnsureBalances = """
        INSERT INTO point_balances (shop_domain, customer_id) SELECT $1, c FROM unnest($2::bigint[]) c ORDER BY c ON CONFLICT DO NOTHING
        """;

    private const string LockBalances = """
        SELECT 1 FROM point_balances WHERE shop_domain = $1 AND customer_id = ANY($2::bigint[]) ORDER BY customer_id FOR UPDATE
        """;

    /// <summary>The shop's checks: installed, not on the POS, no pending period, the total as basis, no tiers, event endpoints or Flow.</summary>
    private const string ShopChecked = """
        shop AS (
            SELECT st.earn_rate AS rate
            FROM shops s JOIN shop_settings st USING (shop_domain)
            WHERE s.shop_domain = $1 AND s.state = 'installed' AND st.balance_source <> 'pos' AND st.pending_days = 0
              AND st.earn_basis = 'total'
              AND NOT EXISTS (SELECT 1 FROM tiers WHERE shop_domain = $1 AND archived_at IS NULL)
              AND NOT EXISTS (SELECT 1 FROM event_endpoints WHERE shop_domain = $1)
              AND NOT EXISTS (SELECT 1 FROM flow_trigger_usage WHERE shop_domain = $1 AND enabled)),
        """;

    /// <summary>
    /// The orders that may be awarded, with the rule in force when each was paid: not decided, no refund waiting, no tier row of the
    /// customer, and nothing about the customer or the order waiting in the inbox (<paramref name="waiting"/>: which rows count).
    /// </summary>
    private static string OrdersChecked(string waiting) => $"""
        ok AS (
            SELECT g.*, coalesce((SELECT c.earn_rate FROM earn_rule_changes c WHERE c.shop_domain = $1
                                  AND date_trunc('second', c.effective_at) <= g.paid_at ORDER BY c.effective_at DESC LIMIT 1), s.rate) AS rate
            FROM grp g CROSS JOIN shop s
            WHERE NOT EXISTS (SELECT 1 FROM order_earnings e WHERE e.shop_domain = $1 AND e.order_id = g.order_id)
              AND NOT EXISTS (SELECT 1 FROM order_refunds f WHERE f.shop_domain = $1 AND f.order_id = g.order_id AND f.applied_at IS NULL)
              AND NOT EXISTS (SELECT 1 FROM customer_tiers t WHERE t.shop_domain = $1 AND t.customer_id = g.customer_id)
              AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.shop_domain = $1 AND w.status IN ('pending', 'processing')
                              AND (w.customer_id = g.customer_id OR w.order_id = g.order_id){waiting})),
        """;

    /// <summary>
    /// The orders' records and the ledger's rows for <paramref name="taken"/> (a CTE joined to <c>ok</c>); then, with customer -1,
    /// <paramref name="left"/>: a value for each delivery the checks left.
    /// </summary>
    private static string Awarded(string taken, string left) => $$"""
        earned AS (
            INSERT INTO order_earnings (shop_domain, order_id, order_name, customer_id, status, basis, basis_amount, currency, rate, order_total,
                                        awarded_points, source, priced_at, priced_by, tier_multiplier)
            SELECT $1, ok.order_id, '#' || ok.order_id, ok.customer_id, 'awarded', 'total', ok.amount, ok.currency, ok.rate, ok.amount,
                   floor(ok.amount * ok.rate), 'webhook', ok.paid_at, 'paid', 1
            FROM {{taken}} ORDER BY ok.order_id
            ON CONFLICT DO NOTHING RETURNING order_id, customer_id, awarded_points, rate, basis_amount, currency, priced_at),
        ledger AS (
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, order_id, rate,
                                            basis_amount, currency, balance_after, occurred_at)
            SELECT $1, e.customer_id, e.awarded_points, 'order_award', 'order:' || e.order_id,
                   'Order #' || e.order_id || ': ' || e.basis_amount || ' ' || e.currency || ' × ' || e.rate, 'system', e.order_id, e.rate,
                   e.basis_amount, e.currency, b.balance + e.awarded_points, e.priced_at
            FROM earned e JOIN point_balances b ON b.shop_domain = $1 AND b.customer_id = e.customer_id
            WHERE e.awarded_points > 0 ORDER BY e.customer_id
            RETURNING customer_id, points)
        SELECT customer_id, points FROM ledger
        UNION ALL SELECT -1, {{left}}
        """;

    /// <summary>
    /// At intake: checks, stores and awards the group; each ledger row's customer and points, and (customer -1) each new delivery the
    /// checks would have left to a processor.
    /// </summary>
    private static readonly string Award = $"""
        WITH grp AS (
            SELECT * FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::numeric[], $7::timestamptz[], $8::text[])
                AS g(webhook_id, payload, order_id, customer_id, amount, paid_at, currency)),
        {ShopChecked}
        {OrdersChecked("")}
        stored AS (
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id, order_id, status, processed_at)
            SELECT g.webhook_id, $1, 'orders/paid', '2026-10', g.payload, g.customer_id, g.order_id,
                   CASE WHEN ok.webhook_id IS NULL THEN 'pending' ELSE 'processed' END, CASE WHEN ok.webhook_id IS NULL THEN NULL ELSE now() END
            FROM grp g LEFT JOIN ok USING (webhook_id) ORDER BY g.webhook_id
            ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id, status),
        {Awarded("ok JOIN stored USING (webhook_id) WHERE stored.status = 'processed'", "0 FROM stored WHERE status = 'pending'")}
        """;

    private const string AddToBalances = """
        UPDATE point_balances b SET balance = b.balance + a.points, total_earned = b.total_earned + a.points, updated_at = now()
        FROM unnest($2::bigint[], $3::bigint[]) AS a(customer_id, points) WHERE b.shop_domain = $1 AND b.customer_id = a.customer_id
        """;

    /// <summary>
    /// The group's one transaction at intake: the checks, the rows, then the balances. A delivery the checks would leave to a processor
    /// fails the group: the floor has none.
    /// </summary>
    private static async Task StoreAndAwardAsync(NpgsqlDataSource db, string shop, List<Pending> group)
    {
        var left = await AwardAsync(db, shop, [.. group.Select(p => p.Order)], Command(Award, shop, group.Select(p => p.WebhookId).ToArray(),
            group.Select(p => p.Payload).ToArray(), group.Select(p => p.Order.Id).ToArray(), group.Select(p => p.Order.Customer).ToArray(),
            group.Select(p => p.Order.Total).ToArray(), group.Select(p => p.Order.PaidAt).ToArray(), group.Select(p => p.Order.Currency).ToArray()),
            commitLeft: false);
        if (left.Count > 0) throw new InvalidOperationException($"{left.Count} deliveries would be left to a processor: the ledger floor has none.");
    }

    /// <summary>
    /// One transaction for <paramref name="orders"/> (distinct customers): the orders' locks, the balances made sure of and locked, then
    /// <paramref name="award"/> (returning each ledger row's customer and points, and customer -1 with a value for each delivery it left),
    /// the balances, the commit: three round trips. The values of what was left; with some left and <paramref name="commitLeft"/> false,
    /// rolled back.
    /// </summary>
    private static async Task<List<long>> AwardAsync(NpgsqlDataSource db, string shop, IReadOnlyList<Order> orders, NpgsqlBatchCommand award,
        bool commitLeft)
    {
        var left = new List<long>();
        var customers = orders.Select(o => o.Customer).ToArray();
        await using var conn = await db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        var (awarded, points) = (new List<long>(), new List<long>());
        await using (var batch = new NpgsqlBatch(conn, tx))
        {
            batch.BatchCommands.Add(Command(LockOrders, shop, orders.Select(o => o.Id).ToArray()));
            batch.BatchCommands.Add(Command(EnsureBalances, shop, customers));
            batch.BatchCommands.Add(Command(LockBalances, shop, customers));
            batch.BatchCommands.Add(award);
            await using var reader = await batch.ExecuteReaderAsync();
            while (await reader.NextResultAsync() && reader.FieldCount != 2)
            {
                // the locks' and the balances' rows
            }
            while (await reader.ReadAsync())
            {
                var (customer, count) = (reader.GetInt64(0), reader.GetInt64(1));
                if (customer == -1)
                {
                    left.Add(count);
                    continue;
                }
                awarded.Add(customer);
                points.Add(count);
            }
        }
        if (awarded.Count > 0)
        {
            await using var add = new NpgsqlBatch(conn, tx) { BatchCommands = { Command(AddToBalances, shop, awarded.ToArray(), points.ToArray()) } };
            await add.ExecuteNonQueryAsync();
        }
        if (left.Count > 0 && !commitLeft) return left; // rolled back with the transaction
        await tx.CommitAsync();
        return left;
    }

    private static NpgsqlBatchCommand Command(string sql, string shop, params object[] arrays)
    {
        var command = new NpgsqlBatchCommand(sql) { Parameters = { new NpgsqlParameter { Value = shop, NpgsqlDbType = NpgsqlDbType.Text } } };
        foreach (var array in arrays) command.Parameters.Add(new NpgsqlParameter { Value = array });
        return command;
    }
}
