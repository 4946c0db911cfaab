using Dapper;
using Npgsql;

namespace Loyalty.Tests.Features.Points;

/// <summary>
/// What every award costs the database beyond its rows. The ledger's checks read one customer's rows by key, however small the
/// tables were when a session planned them: the check before each ledger row keeps one plan per session (migration 0039) instead
/// of planning on every row, and a plan that scanned would read every balance, or the shop's whole ledger, for every row of every
/// award. A balance row is updated in place, adding no index entry (migration 0040).
/// </summary>
public sealed class LedgerStorageTests
{
    private const string Shop = "plans.myshopify.com";

    private static Task CreditAsync(NpgsqlConnection conn, NpgsqlTransaction tx, int points, long balanceAfter) => conn.ExecuteAsync("""
        INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
        VALUES (@shop, 1, @points, 'bonus', 'bonus:' || @balanceAfter, 'x', 'staff', @balanceAfter);
        UPDATE point_balances SET balance = @balanceAfter, total_earned = @balanceAfter WHERE shop_domain = @shop AND customer_id = 1;
        """, new { shop = Shop, points, balanceAfter }, tx);

    [Fact]
    public async Task The_checks_read_one_customers_rows_even_with_a_plan_made_while_the_ledger_was_a_page()
    {
        var db = await TestDatabase.CreateAsync();
        await using var conn = new NpgsqlConnection(db);
        await conn.OpenAsync();
        await conn.ExecuteAsync("SET plan_cache_mode = force_custom_plan"); // as the app's sessions (Database:ForceCustomPlans)
        // Nothing analyses the tables meanwhile, so a plan this session keeps is not remade.
        await conn.ExecuteAsync("""
            ALTER TABLE point_balances SET (autovacuum_enabled = off);
            ALTER TABLE point_transactions SET (autovacuum_enabled = off);
            INSERT INTO shops (shop_domain, state, installed_at) VALUES (@shop, 'installed', now());
            INSERT INTO point_balances (shop_domain, customer_id) VALUES (@shop, 1);
            """, new { shop = Shop });
        await using (var small = await conn.BeginTransactionAsync())
        {
            await CreditAsync(conn, small, 10, 10); // the checks plan here, on a ledger of one row
            await small.CommitAsync();
        }

        // Another session grows the ledger to 5,000 customers.
        await using (var other = new NpgsqlConnection(db))
        {
            await other.ExecuteAsync("""
                BEGIN;
                INSERT INTO point_balances (shop_domain, customer_id) SELECT @shop, g FROM generate_series(2, 5001) AS g;
                INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
                SELECT @shop, g, 1, 'bonus', 'bonus:grow-' || g, 'x', 'staff', 1 FROM generate_series(2, 5001) AS g;
                UPDATE point_balances SET balance = 1, total_earned = 1 WHERE shop_domain = @shop AND customer_id > 1;
                COMMIT;
                """, new { shop = Shop });
        }

        await using var tx = await conn.BeginTransactionAsync();
        await CreditAsync(conn, tx, 5, 15);
        await conn.ExecuteAsync("SET CONSTRAINTS ALL IMMEDIATE", transaction: tx); // the deferred check runs now, in this transaction
        var read = (await conn.QueryAsync<(string Table, long SeqScans, long RowsRead)>("""
            SELECT relname, seq_scan, seq_tup_read + idx_tup_fetch FROM pg_stat_xact_user_tables
            WHERE relname IN ('point_transactions', 'point_balances') ORDER BY relname
            """, transaction: tx)).ToList();
        await tx.CommitAsync();

        Assert.Equal(2, read.Count);
        Assert.All(read, t => Assert.True(t.SeqScans == 0 && t.RowsRead <= 10,
            $"{t.Table}: {t.SeqScans} sequential scans, {t.RowsRead} rows read for one customer's credit"));
        Assert.Equal(15, await conn.ExecuteScalarAsync<long>(
            "SELECT sum(points) FROM point_transactions WHERE shop_domain = @shop AND customer_id = 1", new { shop = Shop }));
    }

    [Fact]
    public async Task The_check_before_each_ledger_row_keeps_one_plan_on_the_key()
    {
        // CREATE OR REPLACE FUNCTION drops a function's SET clauses: a migration that rewrites the check must state them again.
        await using var conn = new NpgsqlConnection(await TestDatabase.CreateAsync());
        await conn.OpenAsync();
        await using var check = new NpgsqlCommand("SELECT proconfig FROM pg_proc WHERE proname = 'point_transactions_check'", conn);
        Assert.Equal(["plan_cache_mode=force_generic_plan", "enable_seqscan=off"], await check.ExecuteScalarAsync() as string[] ?? []);
        // The commit's check plans per call: its ledger sum, planned generically on a small ledger, takes the shop's index.
        await using var atCommit = new NpgsqlCommand("SELECT proconfig FROM pg_proc WHERE proname = 'point_balances_match_ledger'", conn);
        Assert.IsType<DBNull>(await atCommit.ExecuteScalarAsync());
    }

    [Fact]
    public async Task A_credit_to_a_customer_with_points_updates_the_balance_row_in_place()
    {
        await using var conn = new NpgsqlConnection(await TestDatabase.CreateAsync());
        await conn.OpenAsync();
        await conn.ExecuteAsync("""
            INSERT INTO shops (shop_domain, state, installed_at) VALUES (@shop, 'installed', now());
            INSERT INTO point_balances (shop_domain, customer_id) VALUES (@shop, 1);
            """, new { shop = Shop });
        // This session's counts since its last report to the statistics, read twice inside each transaction for that transaction's.
        const string Updates = "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'point_balances'";
        async Task<(long Updates, long InPlace)> CreditCountedAsync(int points, long balanceAfter)
        {
            await using var tx = await conn.BeginTransactionAsync();
            var before = await conn.QuerySingleAsync<(long, long)>(Updates, transaction: tx);
            await CreditAsync(conn, tx, points, balanceAfter);
            var after = await conn.QuerySingleAsync<(long, long)>(Updates, transaction: tx);
            await tx.CommitAsync();
            return (after.Item1 - before.Item1, after.Item2 - before.Item2);
        }

        // From none to some, the row joins the expiry's index of customers with points; from some to more, nothing indexed changes.
        Assert.Equal((1, 0), await CreditCountedAsync(10, 10));
        Assert.Equal((1, 1), await CreditCountedAsync(5, 15));

        await using var options = new NpgsqlCommand("SELECT reloptions FROM pg_class WHERE relname = 'point_balances'", conn);
        Assert.Contains("fillfactor=90", await options.ExecuteScalarAsync() as string[] ?? []);
        Assert.True(await conn.ExecuteScalarAsync<bool>("SELECT has_points FROM point_balances WHERE shop_domain = @shop", new { shop = Shop }));
    }
}
