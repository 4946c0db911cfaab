using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;
using System.Text.Json.Nodes;
using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Infrastructure.Shopify;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// Shopify's GraphQL Admin API schema as the judge of what the app sends: <c>tools/validate-graphql.mjs</c> (graphql-js
/// over Shopify's introspection of the configured version, from <c>@shopify/dev-mcp</c>) validates documents and coerces
/// their variables; <see cref="AppDocuments"/> finds every document the app's assembly holds.
/// </summary>
public static class AdminSchema
{
    /// <summary>The Admin API version the app calls (Shopify:ApiVersion's default).</summary>
    public static string ApiVersion { get; } = new ShopifyOptions().ApiVersion;

    /// <summary>An operation to check; without <paramref name="VariablesJson"/> only the document is validated.</summary>
    public sealed record Operation(string Name, string Document, string? VariablesJson = null);

    public sealed record Verdict(string Name, bool Valid, IReadOnlyList<string> Errors, IReadOnlyList<string> Deprecations);

    public static async Task<IReadOnlyList<Verdict>> ValidateAsync(IReadOnlyCollection<Operation> operations)
    {
        var input = new JsonArray();
        foreach (var o in operations)
        {
            var item = new JsonObject { ["name"] = o.Name, ["document"] = o.Document };
            if (o.VariablesJson is not null) item["variables"] = JsonNode.Parse(o.VariablesJson);
            input.Add(item);
        }
        var file = Path.Combine(Path.GetTempPath(), $"loyalty-graphql-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(file, input.ToJsonString());
        try
        {
            var (exit, output, error) = await NodeTools.NodeAsync("validate-graphql.mjs", "--api-version", ApiVersion, file);
            if (exit is not (0 or 1)) throw new InvalidOperationException($"validate-graphql.mjs failed ({exit}): {error}");
            var results = JsonNode.Parse(output)!["results"]!.AsArray().Select(r => new Verdict(
                r!["name"]!.GetValue<string>(),
                r["valid"]!.GetValue<bool>(),
                [.. r["errors"]!.AsArray().Select(e => e!.GetValue<string>())],
                [.. r["deprecations"]!.AsArray().Select(e => e!.GetValue<string>())])).ToList();
            if (results.Count != operations.Count) throw new InvalidOperationException(
                $"validate-graphql.mjs judged {results.Count} of {operations.Count} operations.");
            if ((exit == 0) != results.All(r => r.Valid)) throw new InvalidOperationException($"validate-graphql.mjs exited {exit} for: {output}");
            return results;
        }
        finally
        {
            File.Delete(file);
        }
    }

    /// <summary>
    /// Every GraphQL operation document in the app's assembly: string literals (its user-string heap, so inline raw strings
    /// count as much as constants) that open like an operation. A document built at run time would show here as a fragment,
    /// which no recorded request matches.
    /// </summary>
    public static IReadOnlyList<string> AppDocuments()
    {
        var assembly = typeof(ShopifyGraphQLClient).Assembly;
        using var pe = new PEReader(File.OpenRead(assembly.Location));
        var metadata = pe.GetMetadataReader();
        var found = new List<string>();
        if (metadata.GetHeapSize(HeapIndex.UserString) <= 1) return found;
        for (var handle = MetadataTokens.UserStringHandle(1); !handle.IsNil; handle = metadata.GetNextHandle(handle))
        {
            var text = metadata.GetUserString(handle);
            if (AdminOperations.LooksLikeOperation(text)) found.Add(text);
        }
        return [.. found.Distinct(StringComparer.Ordinal)];
    }

    /// <summary>A readable line per failed verdict, for assertion messages.</summary>
    public static string Describe(IEnumerable<Verdict> verdicts) =>
        string.Join("\n", verdicts.Select(v => $"{v.Name}:\n  " + string.Join("\n  ", v.Errors)));

    public static string Name(string document) => AdminOperations.OperationName(document) ?? "(anonymous)";
}
