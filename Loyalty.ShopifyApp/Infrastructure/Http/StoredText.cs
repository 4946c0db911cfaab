using System.Diagnostics.CodeAnalysis;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// Text a request asks the database to keep or look up. PostgreSQL's text cannot hold U+0000, which JSON can carry
/// (<c>\u0000</c>): every free-text field is checked here, so a NUL is a field error (422), never a database error (500),
/// and never one that comes after Shopify was already changed. Anything that slips past is a 422 <c>invalid_text</c>
/// from <see cref="UnexpectedExceptionHandler"/>, logged so the field gets its check.
/// </summary>
public static class StoredText
{
    public const string NulRule = "Must not contain the NUL character (U+0000).";

    public static bool HasNul([NotNullWhen(true)] string? text) => text is not null && text.Contains('\0');

    /// <summary>422 with the endpoint's stable <paramref name="code"/> and <see cref="NulRule"/> for <paramref name="field"/>.</summary>
    public static ProblemHttpResult Problem(string code, string field) =>
        Problems.Validation(code, "A field holds a character that cannot be stored.", "See errors for each field.",
            new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [NulRule] } });
}
