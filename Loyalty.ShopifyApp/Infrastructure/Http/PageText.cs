using System.Collections.Concurrent;
using System.Net;
using System.Text.Encodings.Web;
using System.Text.RegularExpressions;
using System.Text.Unicode;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// The pages' words in each language: <c>i18n/{language}.json</c> beside each page, flat <c>"key": "text"</c>, embedded
/// as <c>Pages.{page}.i18n.{language}.json</c> (see the csproj). A language is a primary subtag (<c>ja</c>): a locale such
/// as <c>ja-JP</c> picks it, and a locale without a file gets English. In a page's HTML <c>[[key]]</c> is replaced by the
/// text (HTML-encoded), <c>__LANG__</c> by the language and <c>__I18N__</c> by all the texts as JSON, for the page's script.
/// </summary>
public static partial class PageText
{
    public const string Fallback = "en";

    private static readonly ConcurrentDictionary<string, IReadOnlyList<string>> LanguageCache = new();
    private static readonly ConcurrentDictionary<(string Page, string Language), IReadOnlyDictionary<string, string>> Cache = new();

    // Readable Japanese in the page, yet nothing that could close the <script> element (<, >, & stay escaped).
    private static readonly JsonSerializerOptions ScriptJson = new() { Encoder = JavaScriptEncoder.Create(UnicodeRanges.All) };

    [GeneratedRegex(@"\[\[([A-Za-z0-9_.]+)\]\]")]
    private static partial Regex Placeholder();

    [GeneratedRegex(@"^[a-z]{2,3}\z")]
    private static partial Regex LanguageCode();

    [GeneratedRegex(@"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8}){0,3}\z")]
    private static partial Regex LocaleTag();

    /// <summary>The languages a page has a file for, English first.</summary>
    public static IReadOnlyList<string> Languages(string page) => LanguageCache.GetOrAdd(page, static name =>
    {
        var prefix = $"Pages.{name}.i18n.";
        return typeof(PageText).Assembly.GetManifestResourceNames()
            .Where(n => n.StartsWith(prefix, StringComparison.Ordinal) && n.EndsWith(".json", StringComparison.Ordinal))
            .Select(n => n[prefix.Length..^".json".Length])
            .Where(l => LanguageCode().IsMatch(l))
            .OrderBy(l => l == Fallback ? 0 : 1).ThenBy(l => l, StringComparer.Ordinal)
            .ToList();
    });

    /// <summary>The page's language for a locale (<c>ja</c>, <c>ja-JP</c>, <c>en_US</c>): its primary subtag if the page has it, else
    /// English.</summary>
    public static string Choose(string page, string? locale)
    {
        var language = locale?.Split('-', '_')[0].ToLowerInvariant();
        return language is not null && Languages(page).Contains(language) ? language : Fallback;
    }

    /// <summary>
    /// The locale the page formats numbers and dates with: the one asked for when it is in the chosen language
    /// (<c>en-GB</c> keeps British dates), else the language itself (a French admin gets English text and English numbers).
    /// </summary>
    public static string FormatLocale(string? locale, string language)
    {
        if (locale is null) return language;
        var tag = locale.Replace('_', '-');
        return LocaleTag().IsMatch(tag) && tag.Split('-')[0].Equals(language, StringComparison.OrdinalIgnoreCase) ? tag : language;
    }

    public static IReadOnlyDictionary<string, string> Strings(string page, string language) => Cache.GetOrAdd((page, language), static key =>
    {
        using var stream = typeof(PageText).Assembly.GetManifestResourceStream($"Pages.{key.Page}.i18n.{key.Language}.json")
            ?? throw new InvalidOperationException($"{key.Page} has no texts in {key.Language}.");
        return JsonSerializer.Deserialize<Dictionary<string, string>>(stream)
            ?? throw new InvalidOperationException($"{key.Page}'s {key.Language}.json is empty.");
    });

    /// <summary>The page's HTML in a language. An unknown key fails at once rather than showing <c>[[key]]</c> to a customer.</summary>
    public static string Localize(string html, string page, string language)
    {
        var strings = Strings(page, language);
        return Placeholder().Replace(html, m => strings.TryGetValue(m.Groups[1].Value, out var text)
                ? WebUtility.HtmlEncode(text)
                : throw new InvalidOperationException($"{page} uses [[{m.Groups[1].Value}]], which {language}.json does not have."))
            .Replace("__LANG__", language, StringComparison.Ordinal)
            .Replace("__I18N__", JsonSerializer.Serialize(strings, ScriptJson), StringComparison.Ordinal);
    }
}
