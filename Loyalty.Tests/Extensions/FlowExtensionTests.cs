using System.Text.RegularExpressions;
using Loyalty.ShopifyApp.Features.Flow;
using Tomlyn;
using Tomlyn.Model;

namespace Loyalty.Tests.Extensions;

/// <summary>
/// The app's Shopify Flow extensions (<c>extensions/*/shopify.extension.toml</c>) follow the rules Shopify's CLI checks at
/// <c>shopify app deploy</c> (CLI 3.94.3, pinned in tools/package-lock.json; its bundle is read for the field types) and agree with
/// the triggers the app sends (<see cref="FlowTrigger"/>), so what is deployed and what is sent cannot drift apart.
/// </summary>
public sealed partial class FlowExtensionTests
{
    private static readonly List<(string Folder, TomlTable Toml)> Extensions = [.. Directory
        .GetFiles(Path.Combine(NodeTools.RepoRoot, "extensions"), "shopify.extension.toml", SearchOption.AllDirectories)
        .Select(f => (Path.GetFileName(Path.GetDirectoryName(f))!, TomlSerializer.Deserialize<TomlTable>(File.ReadAllText(f))!))];

    private static IEnumerable<(string Folder, TomlTable Extension, TomlTable Toml)> OfType(string type) =>
        Extensions.SelectMany(e => e.Toml.TryGetValue("extensions", out var list) && list is TomlTableArray a
            ? a.Where(x => x["type"] as string == type).Select(x => (e.Folder, x, e.Toml)) : []);

    /// <summary>The commerce objects a trigger may reference (the CLI: "Commerce object … is not supported for Flow Triggers").</summary>
    private static readonly string[] TriggerReferences =
        ["customer_reference", "order_reference", "product_reference", "company_reference", "company_contact_reference"];

    /// <summary>The other field types a trigger may have (the CLI: "Field type … is not supported on Flow Triggers").</summary>
    private static readonly string[] TriggerFieldTypes = ["boolean", "email", "single_line_text_field", "url", "number_decimal"];

    [GeneratedRegex("^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,28}[a-zA-Z0-9])?$")]
    private static partial Regex Handle();

    [GeneratedRegex(@"^[a-zA-Z\s]+$")]
    private static partial Regex FieldKey();

    [Fact]
    public void Every_trigger_the_app_sends_is_declared_once_with_its_title_and_nothing_else_is()
    {
        var declared = OfType("flow_trigger").Select(t => ((string)t.Extension["handle"], (string)t.Extension["name"], t.Folder)).ToList();
        Assert.Equal(FlowTrigger.All.Select(t => (t.Handle, t.Title, t.Handle)).Order(), declared.Order());
    }

    [Fact]
    public void Each_trigger_has_a_valid_handle_and_fields_of_types_Flow_accepts_on_triggers_with_valid_keys()
    {
        foreach (var (folder, extension, toml) in OfType("flow_trigger"))
        {
            Assert.Matches(Handle(), (string)extension["handle"]);
            var fields = ((TomlTableArray)((TomlTable)toml["settings"])["fields"]).ToList();
            Assert.Single(fields, f => (string)f["type"] == "customer_reference"); // every trigger is about a customer
            foreach (var field in fields)
            {
                var type = (string)field["type"];
                if (type.EndsWith("_reference", StringComparison.Ordinal))
                {
                    Assert.Contains(type, TriggerReferences);
                    Assert.False(field.ContainsKey("key"), $"{folder}: a reference field has no key");
                    continue;
                }
                Assert.True(TriggerFieldTypes.Contains(type) || type.StartsWith("schema.", StringComparison.Ordinal), $"{folder}: {type}");
                Assert.Matches(FieldKey(), (string)field["key"]);
            }
            Assert.Equal(fields.Count, fields.Select(f => f.TryGetValue("key", out var k) ? (string)k : (string)f["type"]).Distinct().Count());
        }
    }

    [Fact]
    public void The_field_types_assumed_here_are_the_ones_the_pinned_CLI_accepts_on_triggers()
    {
        var cli = File.ReadAllText(Path.Combine(NodeTools.RepoRoot, "tools", "node_modules", "@shopify", "cli", "dist", "index.js"));
        Assert.Contains("is not supported on Flow ${t===\"flow_action\"?\"Actions\":\"Triggers\"}", cli, StringComparison.Ordinal);
        foreach (var type in TriggerFieldTypes.Concat(TriggerReferences)) Assert.Contains($"\"{type}\"", cli, StringComparison.Ordinal);
    }

    [Fact]
    public void The_lifecycle_callback_is_declared_once_at_the_apps_https_address()
    {
        var (_, callback, _) = Assert.Single(OfType("flow_trigger_lifecycle_callback"));
        var url = new Uri((string)callback["url"]);
        Assert.Equal("https", url.Scheme);
        Assert.Equal("/flow/lifecycle", url.AbsolutePath);
        Assert.Matches(Handle(), (string)callback["handle"]);
    }
}
