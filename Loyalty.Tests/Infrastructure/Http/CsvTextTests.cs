using Loyalty.ShopifyApp.Infrastructure.Http;

namespace Loyalty.Tests.Infrastructure.Http;

/// <summary>Every text field of the app's CSV files stays one inert field in a spreadsheet.</summary>
public sealed class CsvTextTests
{
    [Theory]
    [InlineData("=HYPERLINK(\"https://evil.example\",\"x\")", "\"'=HYPERLINK(\"\"https://evil.example\"\",\"\"x\"\")\"")]
    [InlineData("+cmd|' /C calc'!A0", "\"'+cmd|' /C calc'!A0\"")]
    [InlineData("-2+3+cmd|' /C calc'!A0", "\"'-2+3+cmd|' /C calc'!A0\"")]
    [InlineData("@SUM(1+9)*cmd|' /C calc'!A0", "\"'@SUM(1+9)*cmd|' /C calc'!A0\"")]
    [InlineData("\t=1+1", "\"'\t=1+1\"")]
    [InlineData("\r=1+1", "\"'\r=1+1\"")]
    [InlineData("\uFF1D1+1", "\"'\uFF1D1+1\"")] // full-width equals sign, read as = by some spreadsheets
    [InlineData("-SUMMER", "\"'-SUMMER\"")]
    public void A_field_a_spreadsheet_would_run_as_a_formula_starts_with_an_apostrophe(string value, string expected) =>
        Assert.Equal(expected, CsvText.Field(value));

    [Theory]
    [InlineData("-100", "\"-100\"")] // a negative number is no formula: points stay readable
    [InlineData("-12.50", "\"-12.50\"")]
    [InlineData("100", "\"100\"")]
    [InlineData("Summer", "\"Summer\"")]
    [InlineData("a,b", "\"a,b\"")]
    [InlineData("say \"hi\"", "\"say \"\"hi\"\"\"")]
    [InlineData("line\nbreak\r\nagain", "\"line\nbreak\r\nagain\"")]
    [InlineData("", "")]
    [InlineData(null, "")]
    public void Other_fields_are_quoted_and_otherwise_unchanged(string? value, string expected) =>
        Assert.Equal(expected, CsvText.Field(value));

    [Theory]
    [InlineData("-")]
    [InlineData("-1-1")]
    [InlineData("-1e5")]
    [InlineData("-1.")]
    [InlineData("-.5")]
    [InlineData("--1")]
    public void Only_a_plain_number_escapes_the_apostrophe(string value) =>
        Assert.StartsWith("\"'", CsvText.Field(value), StringComparison.Ordinal);
}
