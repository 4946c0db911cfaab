using System.Text.Json.Nodes;
using Json.Schema;

namespace Loyalty.Tests.Features;

/// <summary>
/// The examples in the served OpenAPI document are right: each validates against the schema the document gives for it (its
/// <c>$ref</c>s resolved into the document's components, and every object closed to the properties it names, so a misspelt
/// property fails too), every operation that takes a JSON body shows a request and a success answer, and the main reads show theirs.
/// </summary>
public sealed class ApiDescriptionExampleTests
{
    private static readonly string[] MainReads = ["GET /proxy/api/me", "GET /api/admin/settings", "GET /api/admin/campaigns/{id}"];

    private sealed record Example(string Where, JsonNode Schema, JsonNode? Value);

    [Fact]
    public async Task Every_example_in_the_document_validates_against_the_schema_the_document_gives_it()
    {
        var document = await DocumentAsync();
        var examples = Examples(document).ToList();

        var failures = examples.SelectMany(e => Errors(document, e.Schema, e.Value).Select(error => $"{e.Where}: {error}")).ToList();

        Assert.True(examples.Count >= 40, $"only {examples.Count} examples in the document");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task Every_operation_that_takes_json_shows_a_request_and_a_success_example_and_so_do_the_main_reads()
    {
        var document = await DocumentAsync();
        var operations = document["paths"]!.AsObject()
            .SelectMany(path => path.Value!.AsObject().Select(op => (Name: $"{op.Key.ToUpperInvariant()} {path.Key}", Operation: op.Value!)))
            .ToList();

        var takesJson = operations.Where(o => o.Operation["requestBody"]?["content"]?["application/json"] is not null).ToList();
        var noRequest = takesJson.Where(o => o.Operation["requestBody"]!["content"]!["application/json"]!["example"] is null).Select(o => o.Name);
        var noAnswer = takesJson.Concat(operations.Where(o => MainReads.Contains(o.Name)))
            .Where(o => !o.Operation["responses"]!.AsObject()
                .Any(r => r.Key.StartsWith('2') && r.Value!["content"]?["application/json"]?["example"] is not null))
            .Select(o => o.Name);

        Assert.True(takesJson.Count >= 12, $"only {takesJson.Count} operations take JSON");
        Assert.True(!noRequest.Any(), "no request example: " + string.Join(", ", noRequest));
        Assert.True(!noAnswer.Any(), "no success example: " + string.Join(", ", noAnswer));
        Assert.All(MainReads, read => Assert.Contains(operations, o => o.Name == read));
    }

    [Fact]
    public async Task A_wrong_example_fails_the_validation_naming_the_property()
    {
        var document = await DocumentAsync();
        var create = Examples(document).Single(e => e.Where == "POST /api/admin/campaigns request");
        var wrong = create.Value!.DeepClone();
        wrong["percentage"] = "ten";
        wrong["titel"] = "Summer sale";

        var errors = Errors(document, create.Schema, wrong);

        Assert.Empty(Errors(document, create.Schema, create.Value));
        Assert.Contains(errors, e => e.StartsWith("/percentage", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("titel", StringComparison.Ordinal));
    }

    private static async Task<JsonNode> DocumentAsync()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        return JsonNode.Parse(await app.Http.GetStringAsync("/openapi/v1.json"))!;
    }

    /// <summary>Every example of a request or an answer body, with the schema it sits beside.</summary>
    private static IEnumerable<Example> Examples(JsonNode document)
    {
        foreach (var (path, operations) in document["paths"]!.AsObject())
        {
            foreach (var (method, operation) in operations!.AsObject())
            {
                var bodies = (operation!["requestBody"]?["content"]?.AsObject() ?? []).Select(c => ("request", c.Key, c.Value!))
                    .Concat((operation["responses"]?.AsObject() ?? []).SelectMany(r =>
                        (r.Value!["content"]?.AsObject() ?? []).Select(c => (r.Key, c.Key, c.Value!))));
                foreach (var (part, media, content) in bodies)
                {
                    if (content.AsObject().ContainsKey("example"))
                    {
                        yield return new Example($"{method.ToUpperInvariant()} {path} {part}{(media == "application/json" ? "" : $" ({media})")}",
                            content["schema"]!, content["example"]);
                    }
                }
            }
        }
    }

    /// <summary>Where and why <paramref name="value"/> does not fit <paramref name="schema"/>; empty when it does.</summary>
    private static List<string> Errors(JsonNode document, JsonNode schema, JsonNode? value)
    {
        var standalone = schema.DeepClone().AsObject();
        standalone["$defs"] = document["components"]?["schemas"]?.DeepClone() ?? new JsonObject();
        Close(standalone);
        var results = JsonSchema.FromText(standalone.ToJsonString()).Evaluate(value, new EvaluationOptions { OutputFormat = OutputFormat.List });
        return results.IsValid ? [] : (results.Details ?? [])
            .Where(d => d.Errors is { Count: > 0 })
            .SelectMany(d => d.Errors!.Select(e => $"{d.InstanceLocation} ({d.EvaluationPath}) {e.Key}: {e.Value}"))
            .DefaultIfEmpty("does not validate")
            .ToList();
    }

    /// <summary>
    /// Points the document's <c>#/components/schemas/</c> references at <c>$defs</c>, and closes every object schema that names
    /// its properties to those (an example with a property the schema does not know is wrong, not an extension).
    /// </summary>
    private static void Close(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject o:
                if (o["$ref"]?.GetValue<string>() is { } reference)
                {
                    o["$ref"] = reference.Replace("#/components/schemas/", "#/$defs/", StringComparison.Ordinal);
                }
                if (o["properties"] is JsonObject && !o.ContainsKey("additionalProperties")) o["unevaluatedProperties"] = false;
                foreach (var (key, child) in o.ToList())
                {
                    if (key is not ("example" or "enum" or "examples")) Close(child);
                }
                break;
            case JsonArray a:
                foreach (var child in a) Close(child);
                break;
        }
    }
}
