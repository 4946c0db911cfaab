using System.Text.Json.Serialization;
using System.Text.RegularExpressions;

namespace Loyalty.Pos;

/// <summary>
/// Where one shop's POS lives and the key it accepts. Configured per shop. <paramref name="Circuit"/>: how the instances of an app name
/// this connection on their shared <see cref="IPosCircuitBoard"/>; without it, its calls go by this instance's circuit alone.
/// </summary>
public sealed record PosConnection(Uri BaseUrl, string ApiKey, PosCircuitKey? Circuit = null);

/// <summary>A transaction the POS applied (or had already applied, for a replayed reference).</summary>
public sealed record PosTransaction(
    [property: JsonPropertyName("transactionId")] string TransactionId,
    [property: JsonPropertyName("reference")] string Reference,
    [property: JsonPropertyName("points")] long Points,
    [property: JsonPropertyName("balance")] long? Balance,
    [property: JsonPropertyName("customerId")] string? CustomerId = null,
    [property: JsonPropertyName("createdAt")] DateTimeOffset? CreatedAt = null);

/// <summary>What became of an addition or a deduction. The caller always knows which of three it is.</summary>
public abstract record PosOutcome
{
    private PosOutcome() { }

    /// <summary>The POS applied it; <paramref name="Replayed"/> when the reference had been applied before (200).</summary>
    public sealed record Applied(PosTransaction Transaction, bool Replayed) : PosOutcome;

    /// <summary>The POS refused it for good (409 reference_conflict, 422 insufficient_points, 404 customer_not_found, 4xx).</summary>
    public sealed record Rejected(string Error, int Status, long? Balance) : PosOutcome;

    /// <summary>
    /// No answer to rely on (timeouts, resets, 5xx after the retries): it may or may not have been applied.
    /// Never guess; settle it with <see cref="PosClient.FindTransactionAsync"/> by the same reference.
    /// </summary>
    public sealed record Unknown(string Reason) : PosOutcome;
}

public abstract record PosBalance
{
    private PosBalance() { }

    public sealed record Found(long Balance) : PosBalance;

    public sealed record CustomerNotFound : PosBalance;

    public sealed record Unavailable(string Reason) : PosBalance;
}

public abstract record PosLookup
{
    private PosLookup() { }

    public sealed record Found(PosTransaction Transaction) : PosLookup;

    /// <summary>The POS never applied that reference.</summary>
    public sealed record NotFound : PosLookup;

    /// <summary>No answer to rely on; <paramref name="Status"/> is the POS's HTTP status when it answered one.</summary>
    public sealed record Unavailable(string Reason, int? Status = null) : PosLookup;
}

public static partial class PosReference
{
    [GeneratedRegex(@"^[A-Za-z0-9_:.-]{1,100}\z", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();

    /// <summary>References are the POS's only idempotency key: at most 100 characters of [A-Za-z0-9_:.-].</summary>
    public static bool IsValid(string? reference) => reference is not null && Pattern().IsMatch(reference);
}
