namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>CSV fields for merchants' spreadsheets: quoted, and with formulas defused (CSV injection).</summary>
public static class CsvText
{
    public static string Field(string? value)
    {
        if (string.IsNullOrEmpty(value)) return "";
        if (value[0] is '=' or '+' or '-' or '@') value = "'" + value;
        return "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
    }
}
