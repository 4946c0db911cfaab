using System.Text.RegularExpressions;

namespace Loyalty.Tests.Extensions;

/// <summary>
/// The extension is laid out as Shopify CLI ships a theme app extension, and every string it shows is translated:
/// each <c>t:</c> key of a block schema is in the English and Japanese schema locales, and each <c>| t</c> key of
/// the Liquid in the English and Japanese storefront locales.
/// </summary>
public sealed partial class ThemeExtensionContentTests
{
    private static readonly string[] SchemaLocales = ["en.default.schema.json", "ja.schema.json"];
    private static readonly string[] StorefrontLocales = ["en.default.json", "ja.json"];

    [Fact]
    public void The_extension_is_a_theme_app_extension_of_files_shopify_cli_ships()
    {
        var toml = ThemeExtension.Read("shopify.extension.toml");
        Assert.Matches(new Regex(@"^type\s*=\s*""theme""\s*$", RegexOptions.Multiline), toml);
        Assert.Matches(new Regex(@"^name\s*=\s*""[^""]+""\s*$", RegexOptions.Multiline), toml);

        // What `shopify app deploy` bundles (assets/, blocks/, locales/, snippets/, with the types it accepts);
        // at the top only the extension's TOML and the lint configuration, which it leaves out.
        var allowed = new Regex(@"^(shopify\.extension\.toml|\.theme-check\.yml|assets/[^/]+\.(js|css|png|jpg|svg)|blocks/[^/]+\.liquid"
            + @"|snippets/[^/]+\.liquid|locales/[^/]+\.json)$");
        var files = ThemeExtension.Files();
        Assert.All(files, f => Assert.Matches(allowed, f));
        foreach (var required in new[] { "blocks/loyalty-points.liquid",
            "blocks/loyalty-badge.liquid" }.Concat(SchemaLocales.Concat(StorefrontLocales).Select(l => "locales/" + l)))
        {
            Assert.Contains(required, files);
        }
        Assert.Contains("\"target\": \"section\"", ThemeExtension.Read("blocks/loyalty-points.liquid"));
        Assert.Contains("\"target\": \"body\"", ThemeExtension.Read("blocks/loyalty-badge.liquid"));
    }

    [Fact]
    public void Every_schema_translation_key_is_in_the_english_and_japanese_schema_locales()
    {
        var keys = ThemeExtension.LiquidFiles()
            .SelectMany(f => SchemaKey().Matches(Schema(ThemeExtension.Read(f))).Select(m => (File: f, Key: m.Groups["key"].Value)))
            .ToList();
        Assert.NotEmpty(keys);

        var missing = keys.SelectMany(k => SchemaLocales.Where(l => ThemeExtension.Translation(l, k.Key) is not { Length: > 0 }).Select(
            l => $"{k.File}: t:{k.Key} not in {l}")).ToList();
        Assert.True(missing.Count == 0, string.Join("\n", missing));
    }

    [Fact]
    public void Every_storefront_translation_key_is_in_the_english_and_japanese_locales()
    {
        var keys = ThemeExtension.LiquidFiles()
            .SelectMany(f => TranslateFilter().Matches(WithoutSchema(ThemeExtension.Read(f))).Select(m => (File: f, Key: m.Groups["key"].Value)))
            .ToList();
        Assert.NotEmpty(keys);

        var missing = keys.SelectMany(k => StorefrontLocales.Where(l => ThemeExtension.Translation(l, k.Key) is not { Length: > 0 }).Select(
            l => $"{k.File}: '{k.Key}' | t not in {l}")).ToList();
        Assert.True(missing.Count == 0, string.Join("\n", missing));
    }

    private static string Schema(string liquid) => SchemaTag().Match(liquid).Groups["json"].Value;

    private static string WithoutSchema(string liquid) => SchemaTag().Replace(liquid, "");

    [GeneratedRegex(@"\{%-?\s*schema\s*-?%\}(?<json>.*?)\{%-?\s*endschema\s*-?%\}", RegexOptions.Singleline)]
    private static partial Regex SchemaTag();

    [GeneratedRegex(@"""t:(?<key>[A-Za-z0-9_.-]+)""")]
    private static partial Regex SchemaKey();

    // 'key' | t   and   "key" | translate, in output tags and in assign
    [GeneratedRegex(@"(?<q>['""])(?<key>[A-Za-z0-9_.-]+)\k<q>\s*\|\s*(t|translate)\b")]
    private static partial Regex TranslateFilter();
}
