using System.Text.RegularExpressions;
using Loyalty.ShopifyApp.Infrastructure.Http;

namespace Loyalty.Tests.Infrastructure.Http;

/// <summary>
/// The pages' words (i18n/*.json beside each page) against what the pages use, read from the embedded assets the app
/// serves: every language has every key, every key a page names exists, and every key is used somewhere.
/// </summary>
public sealed partial class PageTextTests
{
    public static TheoryData<string, string, string> Pages => new()
    {
        { "my-page", "my-page.html", "my-page.js" },
        { "admin", "admin.html", "admin.js" },
    };

    public static TheoryData<string> PageNames => new() { "my-page", "admin" };

    [GeneratedRegex(@"\[\[([A-Za-z0-9_.]+)\]\]")]
    private static partial Regex HtmlKey();

    // 'namespace.key' string literals in a script: t('convert.done'), tp('unit.points', n), cond ? 'a.b' : 'a.c'.
    [GeneratedRegex(@"'([a-z]+\.[A-Za-z0-9_.-]*)'")]
    private static partial Regex ScriptLiteral();

    [GeneratedRegex(@"'((?:[^'\\]|\\.)*)'")]
    private static partial Regex AnyScriptLiteral();

    [GeneratedRegex(@"<(script|style)\b.*?</\1>", RegexOptions.Singleline)]
    private static partial Regex ScriptOrStyle();

    [GeneratedRegex(@"\b(?:aria-label|title|placeholder|alt)=""([^""]*)""")]
    private static partial Regex TextAttribute();

    [Theory]
    [MemberData(nameof(PageNames))]
    public void Every_language_has_the_same_keys_and_no_empty_texts(string page)
    {
        var languages = PageText.Languages(page);
        Assert.Equal(["en", "ja"], languages);
        var english = PageText.Strings(page, "en");
        foreach (var language in languages)
        {
            var texts = PageText.Strings(page, language);
            Assert.Empty(english.Keys.Except(texts.Keys).Select(k => $"{language}.json lacks {k}"));
            Assert.Empty(texts.Keys.Except(english.Keys).Select(k => $"{language}.json has {k}, en.json does not"));
            Assert.Empty(texts.Where(t => t.Value.Length == 0 && !t.Key.EndsWith("separator", StringComparison.Ordinal)).Select(
                t => $"{language}: {t.Key} is empty"));
            // The same {placeholders} in every language, or a value would be dropped or shown as "{name}".
            Assert.Empty(english.Where(e => !Placeholders(e.Value).SetEquals(Placeholders(texts[e.Key])))
                .Select(e => $"{language}: {e.Key} has other placeholders than in English"));
        }
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void Every_key_the_page_uses_exists_and_every_key_is_used(string page, string html, string script)
    {
        var texts = PageText.Strings(page, "en");
        var markup = PageAssets.Read(html);
        var code = Script(script);
        var namespaces = texts.Keys.Select(k => k.Split('.')[0] + ".").ToHashSet();

        var inHtml = HtmlKey().Matches(markup).Select(m => m.Groups[1].Value).ToHashSet();
        var inScript = ScriptLiteral().Matches(code).Select(m => m.Groups[1].Value)
            .Where(k => namespaces.Any(ns => k.StartsWith(ns, StringComparison.Ordinal))).ToHashSet();
        var prefixes = inScript.Where(k => k.EndsWith('.')).ToList(); // t('error.' + code), word('state.', s)
        var keys = inScript.Except(prefixes).ToHashSet();

        Assert.NotEmpty(inHtml);
        Assert.NotEmpty(keys);
        Assert.Empty(inHtml.Where(k => !texts.ContainsKey(k)).Select(k => $"{html} uses [[{k}]], which en.json lacks"));
        // A key, or the base of plural forms (tp('unit.points', n) needs unit.points.other).
        Assert.Empty(keys.Where(k => !texts.ContainsKey(k) && !texts.ContainsKey(k + ".other")).Select(
            k => $"{script} uses '{k}', which en.json lacks"));
        Assert.Empty(texts.Keys.Where(k => !inHtml.Contains(k) && !keys.Contains(k)
                && !keys.Any(b => k.StartsWith(b + ".", StringComparison.Ordinal))
                && !prefixes.Any(p => k.StartsWith(p, StringComparison.Ordinal)))
            .Select(k => $"en.json has {k}, which {page} never uses"));
    }

    [Theory]
    [MemberData(nameof(Pages))]
    public void No_words_are_left_in_the_page_markup_or_script(string page, string html, string script)
    {
        Assert.NotEmpty(PageText.Strings(page, "en"));
        var markup = ScriptOrStyle().Replace(PageAssets.Read(html), "");
        var withoutPlaceholders = Regex.Replace(HtmlKey().Replace(markup, ""), "__[A-Z_]+__", "");
        var textNodes = Regex.Matches(withoutPlaceholders, ">([^<]*)<").Select(m => m.Groups[1].Value.Trim());
        Assert.DoesNotContain(textNodes, text => text.Any(char.IsLetter));
        Assert.DoesNotContain(TextAttribute().Matches(markup).Select(m => m.Groups[1].Value), v => !HtmlKey().IsMatch(v));

        // A script literal with a space between two words is a sentence someone forgot to put in the texts.
        var code = Script(script);
        Assert.DoesNotContain(AnyScriptLiteral().Matches(code).Select(m => m.Groups[1].Value).Where(v => v != "use strict"),
            v => Regex.IsMatch(v, @"[A-Za-z]{2,} [A-Za-z]{2,}"));
    }

    [Theory]
    [InlineData("ja", "ja")]
    [InlineData("ja-JP", "ja")]
    [InlineData("JA_jp", "ja")]
    [InlineData("en-US", "en")]
    [InlineData("fr", "en")]
    [InlineData("", "en")]
    [InlineData(null, "en")]
    public void A_locale_picks_its_language_or_English(string? locale, string language)
    {
        Assert.Equal(language, PageText.Choose("admin", locale));
        Assert.Equal(language, PageText.Choose("my-page", locale));
    }

    [Theory]
    [InlineData("ja-JP", "ja", "ja-JP")]
    [InlineData("en-GB", "en", "en-GB")]
    [InlineData("en_US", "en", "en-US")]
    [InlineData("fr-FR", "en", "en")] // English words with French numbers would be neither
    [InlineData("ja\"><script>", "ja", "ja")]
    [InlineData("en-GB\n", "en", "en")] // .NET's $ matches before a final newline; the tag must end at \z
    [InlineData(null, "en", "en")]
    public void Numbers_and_dates_follow_the_locale_only_within_the_chosen_language(string? locale, string language, string expected) =>
        Assert.Equal(expected, PageText.FormatLocale(locale, language));

    /// <summary>The script without its comments (a comment may name a key or hold an apostrophe); not http://.</summary>
    private static string Script(string name) => Regex.Replace(PageAssets.Read(name), @"(?<![:'""])//.*$", "", RegexOptions.Multiline);

    private static HashSet<string> Placeholders(string text) => Regex.Matches(text, @"\{(\w+)\}").Select(m => m.Groups[1].Value).ToHashSet();
}
