namespace Loyalty.ShopifyApp.Features.PosSync;

/// <summary>
/// The states of a <c>pos_outbox</c> row, and the rule each one follows. Constants, so SQL that names a state
/// (interpolated as a literal, which partial indexes need) and C# cannot drift apart.
/// <list type="bullet">
/// <item><see cref="Pending"/>: on its way, retried with back-off (always the same reference). Holds back the
/// customer's later rows: a clawback must not reach the POS before the award it takes back.</item>
/// <item><see cref="Delivered"/>: the POS applied it (or had already applied that reference).</item>
/// <item><see cref="Refused"/>: the POS answered and did not apply it (404 customer_not_found, 422
/// insufficient_points, 409 reference_conflict, other final 4xx). Its points are drift: the ledger holds them and
/// the POS was never told. It does <b>not</b> hold back later rows, since nothing of it reached the POS. The merchant
/// retries it (same reference, so it can apply only once) after fixing the cause in the POS.</item>
/// <item><see cref="Parked"/>: still failing after <c>PosSync:MaxAttempts</c> (timeouts, 5xx, refused credentials):
/// its outcome may be unknown, so it keeps holding back the customer's later rows until the merchant retries it.</item>
/// <item><see cref="Skipped"/>: the shop no longer keeps its balances in a POS.</item>
/// </list>
/// </summary>
public static class PosOutboxState
{
    public const string Pending = "pending";
    public const string Delivered = "delivered";
    public const string Refused = "refused";
    public const string Parked = "parked";
    public const string Skipped = "skipped";

    public static readonly IReadOnlyList<string> All = [Pending, Delivered, Refused, Parked, Skipped];

    /// <summary>States a merchant may send again.</summary>
    public static readonly IReadOnlyList<string> Retryable = [Refused, Parked];
}
