using Dapper;
using Npgsql;

namespace Loyalty.Tests.Features.Points;

/// <summary>The database itself refuses what must never happen, even to code that bypasses the app.</summary>
public sealed class LedgerInvariantTests : IAsyncLifetime
{
    private string _db = null!;

    public async Task InitializeAsync()
    {
        _db = await TestDatabase.CreateAsync();
        await using var conn = new NpgsqlConnection(_db);
        await conn.ExecuteAsync("""
            INSERT INTO shops (shop_domain, state, installed_at) VALUES ('ledger.myshopify.com', 'installed', now());
            BEGIN;
            INSERT INTO point_balances (shop_domain, customer_id) VALUES ('ledger.myshopify.com', 1);
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
            VALUES ('ledger.myshopify.com', 1, 100, 'bonus', 'bonus:seed', 'seed', 'staff', 100);
            UPDATE point_balances SET balance = 100, total_earned = 100 WHERE customer_id = 1;
            COMMIT;
            """);
    }

    public Task DisposeAsync() => Task.CompletedTask;

    private async Task<PostgresException> RefusedAsync(string sql)
    {
        await using var conn = new NpgsqlConnection(_db);
        return await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync(sql));
    }

    [Fact]
    public async Task Ledger_rows_cannot_be_updated_or_deleted()
    {
        Assert.Contains("append-only", (await RefusedAsync("UPDATE point_transactions SET points = 1000")).MessageText);
        Assert.Contains("append-only", (await RefusedAsync("DELETE FROM point_transactions")).MessageText);
    }

    [Fact]
    public async Task A_spend_below_zero_is_refused()
    {
        var error = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
            VALUES ('ledger.myshopify.com', 1, -150, 'conversion', 'conv:x', 'x', 'customer', -50)
            """);
        Assert.Equal(("LY001", "insufficient_points"), (error.SqlState, error.MessageText));
    }

    [Fact]
    public async Task A_balance_after_that_does_not_follow_from_the_balance_is_refused()
    {
        var error = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
            VALUES ('ledger.myshopify.com', 1, 10, 'bonus', 'bonus:wrong', 'x', 'staff', 999)
            """);
        Assert.Contains("does not follow", error.MessageText);
    }

    [Fact]
    public async Task The_same_reference_cannot_be_applied_twice()
    {
        var error = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
            VALUES ('ledger.myshopify.com', 1, 100, 'bonus', 'bonus:seed', 'again', 'staff', 200)
            """);
        Assert.Equal(PostgresErrorCodes.UniqueViolation, error.SqlState);
    }

    [Fact]
    public async Task A_balance_that_differs_from_its_ledger_cannot_commit()
    {
        var error = await RefusedAsync("UPDATE point_balances SET balance = 500, total_earned = 500 WHERE customer_id = 1");
        Assert.Contains("differs from its ledger", error.MessageText);
    }

    [Fact]
    public async Task Pending_points_that_differ_from_their_ledger_cannot_commit()
    {
        var error = await RefusedAsync("UPDATE point_balances SET pending = 40 WHERE customer_id = 1");
        Assert.Contains("differ from their ledger sum", error.MessageText);
    }

    [Fact]
    public async Task A_pending_after_that_does_not_follow_or_goes_below_zero_is_refused()
    {
        var wrong = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            pending_points, pending_after)
            VALUES ('ledger.myshopify.com', 1, 0, 'order_award', 'order:1', 'x', 'system', 100, 50, 70)
            """);
        Assert.Contains("pending_after 70 does not follow", wrong.MessageText);
        var negative = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            pending_points, pending_after)
            VALUES ('ledger.myshopify.com', 1, 0, 'refund_clawback', 'refund:1', 'x', 'system', 100, -5, -5)
            """);
        Assert.Contains("below zero", negative.MessageText);
    }

    [Fact]
    public async Task A_release_must_move_its_points_from_pending_to_the_balance()
    {
        var error = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
            VALUES ('ledger.myshopify.com', 1, 30, 'pending_release', 'release:1', 'x', 'system', 130)
            """);
        Assert.Equal(("23514", "point_transactions_release_moves_pending"), (error.SqlState, error.ConstraintName));
    }

    [Fact]
    public async Task A_row_written_without_the_pending_columns_as_code_from_before_them_writes_them_keeps_the_pending_points()
    {
        await using var conn = new NpgsqlConnection(_db);
        await conn.ExecuteAsync("""
            BEGIN;
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            pending_points, pending_after)
            VALUES ('ledger.myshopify.com', 1, 0, 'order_award', 'order:7', 'pending', 'system', 100, 30, 30);
            UPDATE point_balances SET pending = 30 WHERE customer_id = 1;
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after)
            VALUES ('ledger.myshopify.com', 1, 5, 'bonus', 'bonus:old-instance', 'during a rolling deploy', 'staff', 105);
            UPDATE point_balances SET balance = 105, total_earned = 105 WHERE customer_id = 1;
            COMMIT;
            """);
        Assert.Equal(30, await conn.ExecuteScalarAsync<long>("SELECT pending_after FROM point_transactions WHERE reference = 'bonus:old-instance'"));
    }

    [Fact]
    public async Task An_expiry_below_zero_is_refused()
    {
        var error = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            expires_lot)
            VALUES ('ledger.myshopify.com', 1, -101, 'expiry', 'expire:1:1', 'x', 'system', -1, 1)
            """);
        Assert.Equal(("LY001", "insufficient_points"), (error.SqlState, error.MessageText));
    }

    [Theory]
    [InlineData("20, 'expiry', 'expire:1:1', 'x', 'system', 120, 0, 1")] // gives points
    [InlineData("-20, 'expiry', 'expire:1:1', 'x', 'system', 80, 0, NULL")] // names no lot
    public async Task An_expiry_only_takes_spendable_points_from_the_lot_it_names(string values)
    {
        var error = await RefusedAsync($"""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            pending_points, expires_lot)
            VALUES ('ledger.myshopify.com', 1, {values})
            """);
        Assert.Equal(("23514", "point_transactions_expiry_takes"), (error.SqlState, error.ConstraintName));
    }

    [Fact]
    public async Task An_expiry_never_takes_pending_points()
    {
        await using var conn = new NpgsqlConnection(_db);
        await conn.ExecuteAsync("""
            BEGIN;
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            pending_points, pending_after)
            VALUES ('ledger.myshopify.com', 1, 0, 'order_award', 'order:8', 'pending', 'system', 100, 30, 30);
            UPDATE point_balances SET pending = 30 WHERE customer_id = 1;
            COMMIT;
            """);
        var error = await RefusedAsync("""
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            pending_points, pending_after, expires_lot)
            VALUES ('ledger.myshopify.com', 1, -20, 'expiry', 'expire:1:1', 'x', 'system', 80, -5, 25, 1)
            """);
        Assert.Equal(("23514", "point_transactions_expiry_takes"), (error.SqlState, error.ConstraintName));
    }

    [Fact]
    public async Task Expired_points_must_be_counted_as_expired_for_the_balance_to_commit()
    {
        await using var conn = new NpgsqlConnection(_db);
        var error = await Assert.ThrowsAsync<PostgresException>(() => conn.ExecuteAsync("""
            BEGIN;
            INSERT INTO point_transactions (shop_domain, customer_id, points, kind, reference, description, actor_type, balance_after,
                                            expires_lot)
            VALUES ('ledger.myshopify.com', 1, -40, 'expiry', 'expire:1:1', 'x', 'system', 60, 1);
            UPDATE point_balances SET balance = 60 WHERE customer_id = 1;
            COMMIT;
            """));
        Assert.Equal(("23514", "point_balances_totals_check"), (error.SqlState, error.ConstraintName));
    }
}
