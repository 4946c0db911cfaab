namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// CSV fields for merchants' spreadsheets. Every text field is quoted (RFC 4180), so commas, quotes, CR and LF stay
/// inside it, and a field a spreadsheet would run as a formula (CSV injection) gets a leading apostrophe, as OWASP
/// recommends: one starting with <c>=</c>, <c>+</c>, <c>-</c>, <c>@</c>, tab or CR, or their full-width forms, which
/// some spreadsheets read alike. A plain number such as <c>-100</c> (a points delta, a code that is all digits) is
/// no formula, so it keeps its readable value. The app's own numbers and words (amounts, counts, states) are written
/// without this; anything a merchant, customer or Shopify wrote goes through <see cref="Field"/>.
/// </summary>
public static class CsvText
{
    private static readonly System.Buffers.SearchValues<char> AsciiDigits = System.Buffers.SearchValues.Create("0123456789");

    public static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r' or '\uFF1D' or '\uFF0B' or '\uFF0D' or '\uFF20' && !IsPlainNumber(value))
        {
            value = "'" + value;
        }
        return "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }

    /// <summary>An optional minus, ASCII digits, and optionally a point with more digits: -100, -12.50.</summary>
    private static bool IsPlainNumber(string value)
    {
        var s = value.AsSpan(value[0] == '-' ? 1 : 0);
        var point = s.IndexOf('.');
        return point < 0 ? Digits(s) : Digits(s[..point]) && Digits(s[(point + 1)..]);

        static bool Digits(ReadOnlySpan<char> d) => !d.IsEmpty && !d.ContainsAnyExcept(AsciiDigits);
    }
}
