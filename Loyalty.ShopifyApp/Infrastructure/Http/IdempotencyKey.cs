using System.Text.RegularExpressions;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// The <c>Idempotency-Key</c> header: it becomes part of a ledger or POS reference, so it is limited to the
/// reference alphabet (A-Z a-z 0-9 _ : . -) and a length that leaves room for the reference's prefix.
/// </summary>
public static partial class IdempotencyKey
{
    [GeneratedRegex(@"^[A-Za-z0-9_:.-]+\z")]
    private static partial Regex Pattern();

    public static bool IsValid(string? key, int maxLength) => key is { Length: > 0 } && key.Length <= maxLength && Pattern().IsMatch(key);

    public static Microsoft.AspNetCore.Http.HttpResults.ProblemHttpResult Required(int maxLength) =>
        Problems.BadRequest("idempotency_key_required", $"Send an Idempotency-Key header (1-{maxLength} of A-Z a-z 0-9 _ : . -), one per attempt.");
}
