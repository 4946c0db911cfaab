namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>
/// Points a POS-mode customer owes the POS: deductions the ledger has made (a refund, a cancellation, an expiry) that the POS does not
/// have yet, on their way (pending, parked) or refused (a clawback of points already spent in the store, owed until the merchant
/// retries it). They are still in the POS balance but not the customer's to spend; refused additions change nothing, the POS balance
/// never included them. A refused expiry is not owed either: the POS did not have those points (spent at the till) to take.
/// </summary>
public static class PosOwed
{
    /// <returns>The owed points as a negative number (0 when none), to add to the POS balance.</returns>
    public static Task<long> DeductionsAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string shop, long customerId, CancellationToken ct) =>
        conn.ExecuteScalarAsync<long>(new CommandDefinition(DeductionsSql, new { shop, customerId }, tx, cancellationToken: ct));

    /// <summary><see cref="DeductionsAsync"/>'s statement, on <c>@shop</c> and <c>@customerId</c>, for a caller's own batch.</summary>
    public const string DeductionsSql = $"""
        SELECT coalesce(sum(points), 0) FROM pos_outbox
        WHERE shop_domain = @shop AND customer_id = @customerId AND points < 0
          AND (state IN ('{PosOutboxState.Pending}', '{PosOutboxState.Parked}')
               OR state = '{PosOutboxState.Refused}' AND reference NOT LIKE 'expire:%')
        """;
}
