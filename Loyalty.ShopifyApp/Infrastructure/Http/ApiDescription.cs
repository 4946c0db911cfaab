using System.Text.Json.Nodes;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.OpenApi;
using Scalar.AspNetCore;
using static Loyalty.ShopifyApp.Infrastructure.Http.ApiDeclarations;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// The OpenAPI description of every API endpoint at <c>/openapi/v1.json</c> (pages — the embedded admin, My Page's
/// Liquid, the sandbox — are left out with <c>ExcludeFromDescription</c>), and its rendered reference at <c>/scalar</c>
/// in Development (the sandbox). Each operation lists, by status, the stable problem <c>code</c>s it answers with (declared
/// beside its <c>Map</c> call and on its route group, <see cref="ApiDeclarations"/>, plus those of
/// <see cref="UnexpectedExceptionHandler"/>), and carries the examples its feature gives.
/// </summary>
public static class ApiDescription
{
    public const string DocumentPath = "/openapi/v1.json";

    private const string ProblemJson = "application/problem+json";

    public static IServiceCollection AddApiDescription(this IServiceCollection services) =>
        services.AddOpenApi("v1", o =>
        {
            o.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "Loyalty",
                    Version = "v1",
                    Description = "A Shopify app's points program. /api/admin/* takes a Shopify session token (Bearer); /proxy/* is "
                                  + "Shopify's app proxy, signed; /webhooks takes Shopify's HMAC. Errors are problem details with a "
                                  + "stable code: each operation lists its codes by status.",
                };
                return Task.CompletedTask;
            });
            o.AddOperationTransformer((operation, context, _) =>
            {
                var metadata = context.Description.ActionDescriptor.EndpointMetadata;
                DescribeProblems(operation, metadata.OfType<ProblemAnswers>()
                    .Concat(UnexpectedExceptionHandler.Answers(withBody: operation.RequestBody is not null)));
                var json = context.ApplicationServices.GetRequiredService<IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions>>().Value;
                DescribeExamples(operation, context.Description.RelativePath, metadata.OfType<ApiExample>(), json.SerializerOptions);
                return Task.CompletedTask;
            });
        });

    public static WebApplication MapApiDescription(this WebApplication app)
    {
        app.MapOpenApi(DocumentPath);
        if (app.Environment.IsDevelopment()) app.MapScalarApiReference("/scalar",
            o => o.WithOpenApiRoutePattern(DocumentPath).WithTitle("Loyalty API"));
        return app;
    }

    /// <summary>One response per status with its codes as the <c>code</c> enum, and a <c>default</c> for answers without a code.</summary>
    private static void DescribeProblems(OpenApiOperation operation, IEnumerable<ProblemAnswers> declared)
    {
        operation.Responses ??= new OpenApiResponses();
        foreach (var answers in declared.GroupBy(d => d.Status).OrderBy(g => g.Key))
        {
            var codes = answers.SelectMany(a => a.Codes).Distinct().ToList();
            var others = answers.Select(a => a.Others).FirstOrDefault(o => o is not null);
            operation.Responses[answers.Key.ToString(CultureInfo.InvariantCulture)] = new OpenApiResponse
            {
                Description = $"{ReasonPhrases.GetReasonPhrase(answers.Key)}: problem details whose `code` is "
                              + (codes.Count == 1 ? codes[0] : "one of " + string.Join(", ", codes)) + (others is null ? "." : $", or {others}."),
                Content = new Dictionary<string, OpenApiMediaType>
                {
                    [ProblemJson] = new()
                    {
                        Schema = ProblemSchema(codes, closed: others is null),
                        Example = new JsonObject
                        {
                            ["title"] = ReasonPhrases.GetReasonPhrase(answers.Key),
                            ["status"] = answers.Key,
                            ["code"] = codes[0],
                        },
                    },
                },
            };
        }
        operation.Responses["default"] = new OpenApiResponse
        {
            Description = "Any other error, such as a route or method that does not exist: problem details, without a `code`.",
            Content = new Dictionary<string, OpenApiMediaType> { [ProblemJson] = new() { Schema = ProblemSchema([], closed: false) } },
        };
    }

    /// <summary>Each example into the JSON body it illustrates, serialized with the options the endpoints use.</summary>
    private static void DescribeExamples(OpenApiOperation operation, string? path, IEnumerable<ApiExample> examples, JsonSerializerOptions json)
    {
        foreach (var example in examples)
        {
            IOpenApiResponse? response = null;
            var content = example.Status is { } status
                ? operation.Responses?.TryGetValue(status.ToString(CultureInfo.InvariantCulture), out response) == true ? response.Content : null
                : operation.RequestBody?.Content;
            OpenApiMediaType? media = null;
            if (content?.TryGetValue("application/json", out media) != true || media is null) throw new InvalidOperationException(
                $"/{path} has an example for {example.Status?.ToString(CultureInfo.InvariantCulture) ?? "its request"} but no JSON body there.");
            media.Example = JsonSerializer.SerializeToNode(example.Value, example.Value.GetType(), json);
        }
    }

    /// <summary>RFC 9457 problem details; <c>code</c> one of <paramref name="codes"/> (an enum when <paramref name="closed"/>).</summary>
    private static OpenApiSchema ProblemSchema(IReadOnlyList<string> codes, bool closed) => new()
    {
        Type = JsonSchemaType.Object,
        Required = new HashSet<string>(codes.Count > 0 ? ["status", "code"] : ["status"]),
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["code"] = new OpenApiSchema
            {
                Type = JsonSchemaType.String,
                Description = "Stable: clients may branch on it.",
                Enum = closed && codes.Count > 0 ? codes.Select(c => (JsonNode)JsonValue.Create(c)).ToList() : null,
                Examples = !closed && codes.Count > 0 ? codes.Select(c => (JsonNode)JsonValue.Create(c)).ToList() : null,
            },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "422: the messages for each field.",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            },
        },
    };
}
