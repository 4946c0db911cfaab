namespace Loyalty.Tests.Extensions;

/// <summary>
/// The theme app extension passes Shopify's own theme-check (<c>tools/theme-check.mjs</c>, the theme-app-extension
/// preset) with no offence of any severity, and the lint is not vacuous: a copy broken on purpose fails it.
/// </summary>
public sealed class ThemeCheckTests
{
    [Fact]
    public async Task Theme_check_reports_no_offences_for_the_theme_extension()
    {
        var (exit, output, error) = await NodeTools.NodeAsync("theme-check.mjs", ThemeExtension.Root);

        Assert.True(exit == 0, $"theme-check exited {exit}:\n{output}{error}");
        Assert.Equal("0 offenses", LastLine(output));
    }

    public static TheoryData<string, string, string, string, string> Sabotages => new()
    {
        // file, text replaced, replacement, the check that must report it, its file in the report
        { "blocks/loyalty-points.liquid", "{%- if block.settings.show_balance -%}", "{%- if block.settings.show_balance -%}{% if preview %}",
            "LiquidHTMLSyntaxError", "blocks/loyalty-points.liquid" },
        { "locales/ja.json", "\"sign_in\": \"ログイン\"", "\"sign_on\": \"ログイン\"", "MatchingTranslations", "locales/ja.json" },
        { "blocks/loyalty-badge.liquid", "'loyalty.badge.label' | t", "'loyalty.badge.title' | t", "TranslationKeyExists",
            "blocks/loyalty-badge.liquid" },
        { "blocks/loyalty-badge.liquid", "\"t:blocks.badge.settings.position.label\"", "\"t:blocks.badge.settings.place.label\"",
            "ValidSchemaTranslations", "blocks/loyalty-badge.liquid" },
        { "blocks/loyalty-points.liquid", "asset_url }}\" defer>", "asset_url }}\">", "ParserBlockingScript", "blocks/loyalty-points.liquid" },
        // A warning fails the lint as much as an error does.
        { "blocks/loyalty-points.liquid", "src=\"{{ 'loyalty-balance.js' | asset_url }}\"", "src=\"https://cdn.example.com/loyalty-balance.js\"",
            "RemoteAsset", "blocks/loyalty-points.liquid" },
    };

    [Theory]
    [MemberData(nameof(Sabotages))]
    public async Task Theme_check_reports_a_copy_of_the_extension_broken_on_purpose(string file, string find, string replace, string check,
        string reportedFile)
    {
        var copy = ThemeExtension.CopyToTemp();
        try
        {
            var path = Path.Combine(copy, file);
            var original = await File.ReadAllTextAsync(path);
            Assert.Contains(find, original); // the sabotage still applies to the extension as it is
            await File.WriteAllTextAsync(path, original.Replace(find, replace, StringComparison.Ordinal));

            var (exit, output, error) = await NodeTools.NodeAsync("theme-check.mjs", copy);

            Assert.True(exit == 1, $"theme-check exited {exit}:\n{output}{error}");
            Assert.Contains(output.Split('\n'), line => line.StartsWith(reportedFile + ":", StringComparison.Ordinal)
                && line.Contains($" {check} ", StringComparison.Ordinal));
            Assert.NotEqual("0 offenses", LastLine(output));
            Assert.Matches(@"^[1-9][0-9]* offenses$", LastLine(output));
        }
        finally
        {
            Directory.Delete(copy, recursive: true);
        }
    }

    private static string LastLine(string output) => output.TrimEnd().Split('\n')[^1].Trim();
}
