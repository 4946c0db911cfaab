using System.Text.Json.Nodes;
using Tomlyn;
using Tomlyn.Model;

namespace Loyalty.Sandbox;

/// <summary>
/// Shopify Flow's <c>flowTriggerReceive</c>, answered as Shopify answers it for the app's deployed trigger extensions: the handles
/// and fields are read from the app's own <c>extensions/*/shopify.extension.toml</c> (embedded in this assembly), so a trigger the
/// app sends but never declared, or a payload field its extension does not declare, is refused with <c>userErrors</c>. What
/// was accepted is kept (<see cref="FlowTriggersReceived"/>): the ground truth of what a merchant's workflows saw.
/// </summary>
public sealed partial class ShopifySimulator
{
    /// <summary>A trigger Flow accepted: the shop, the trigger's handle and its payload (JSON).</summary>
    public sealed record FlowTriggerRun(string Shop, string Handle, string PayloadJson, DateTimeOffset At);

    /// <summary>A Flow trigger extension as deployed: its handle, its title, and the payload keys its fields declare.</summary>
    public sealed record FlowTriggerDeclaration(string Handle, string Name, IReadOnlySet<string> PayloadKeys);

    private readonly List<FlowTriggerRun> _flowRuns = [];

    public IReadOnlyList<FlowTriggerRun> FlowTriggersReceived
    {
        get { lock (_gate) return [.. _flowRuns]; }
    }

    /// <summary>The app's Flow trigger extensions, from the TOML files <c>shopify app deploy</c> ships.</summary>
    public static IReadOnlyList<FlowTriggerDeclaration> FlowTriggerDeclarations { get; } = LoadFlowTriggers();

    private static List<FlowTriggerDeclaration> LoadFlowTriggers()
    {
        var assembly = typeof(ShopifySimulator).Assembly;
        var declarations = new List<FlowTriggerDeclaration>();
        foreach (var name in assembly.GetManifestResourceNames().Where(n => n.StartsWith("Loyalty.Sandbox.extensions.", StringComparison.Ordinal)))
        {
            using var reader = new StreamReader(assembly.GetManifestResourceStream(name)!);
            var toml = TomlSerializer.Deserialize<TomlTable>(reader.ReadToEnd())!;
            if (!toml.TryGetValue("extensions", out var list) || list is not TomlTableArray extensions) continue;
            // As Shopify's template has it: one trigger per file, its [settings] at the top level.
            foreach (var extension in extensions.Where(e => e["type"] as string == "flow_trigger"))
            {
                var keys = new HashSet<string>(StringComparer.Ordinal);
                var fields = toml.TryGetValue("settings", out var s) && s is TomlTable settings && settings.TryGetValue("fields", out var f)
                    ? f as TomlTableArray : null;
                foreach (var field in fields ?? [])
                {
                    var type = (string)field["type"];
                    // A reference field is sent as <object>_id (customer_reference: customer_id); any other by its key, verbatim.
                    keys.Add(type.EndsWith("_reference", StringComparison.Ordinal) ? type[..^"_reference".Length] + "_id" : (string)field["key"]);
                }
                declarations.Add(new FlowTriggerDeclaration((string)extension["handle"], (string)extension["name"], keys));
            }
        }
        return declarations;
    }

    private object FlowTriggerReceive(string shop, JsonObject v)
    {
        var handle = v["handle"]?.GetValue<string>() ?? "";
        var declared = FlowTriggerDeclarations.FirstOrDefault(d => d.Handle == handle);
        if (declared is null) return FlowErrors(["handle"], $"Invalid handle '{handle}': no Flow trigger extension of the app has it.");
        if (v["payload"] is not JsonObject payload) return FlowErrors(["payload"], "The payload must be a JSON object.");
        var undeclared = payload.Select(p => p.Key).Where(k => !declared.PayloadKeys.Contains(k)).ToList();
        if (undeclared.Count > 0) return FlowErrors(["payload"], $"Fields not declared by the trigger: {string.Join(", ", undeclared)}.");
        var missing = declared.PayloadKeys.Where(k => payload[k] is null).ToList();
        if (missing.Count > 0) return FlowErrors(["payload"], $"Required fields missing: {string.Join(", ", missing)}.");
        _flowRuns.Add(new FlowTriggerRun(shop, handle, payload.ToJsonString(), DateTimeOffset.UtcNow));
        return new { flowTriggerReceive = new { userErrors = Array.Empty<object>() } };
    }

    private static object FlowErrors(string[] field, string message) =>
        new { flowTriggerReceive = new { userErrors = new[] { new { field, message } } } };
}
