using Microsoft.OpenApi;
using Scalar.AspNetCore;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// The OpenAPI description of every API endpoint at <c>/openapi/v1.json</c> (pages — the embedded admin, My Page's
/// Liquid, the sandbox — are left out with <c>ExcludeFromDescription</c>), and its rendered reference at <c>/scalar</c>
/// in Development (the sandbox). Every operation also names its error answer: RFC 9457 problem details whose
/// <c>code</c> is stable.
/// </summary>
public static class ApiDescription
{
    public const string DocumentPath = "/openapi/v1.json";

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
                                  + "Shopify's app proxy, signed; /webhooks takes Shopify's HMAC. Errors are problem details with a stable code.",
                };
                return Task.CompletedTask;
            });
            o.AddOperationTransformer((operation, _, _) =>
            {
                operation.Responses ??= new OpenApiResponses();
                operation.Responses.TryAdd("default", new OpenApiResponse
                {
                    Description = "An error: RFC 9457 problem details (application/problem+json) with a stable `code` "
                                  + "(e.g. invalid_session_token, validation_failed, rate_limited) and, for 422, `errors` by field.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/problem+json"] = new() { Schema = ProblemSchema },
                    },
                });
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

    private static readonly OpenApiSchema ProblemSchema = new()
    {
        Type = JsonSchemaType.Object,
        Required = new HashSet<string> { "status", "code" },
        Properties = new Dictionary<string, IOpenApiSchema>
        {
            ["type"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["title"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["status"] = new OpenApiSchema { Type = JsonSchemaType.Integer },
            ["detail"] = new OpenApiSchema { Type = JsonSchemaType.String },
            ["code"] = new OpenApiSchema { Type = JsonSchemaType.String, Description = "Stable: clients may branch on it." },
            ["errors"] = new OpenApiSchema
            {
                Type = JsonSchemaType.Object,
                Description = "422: the messages for each field.",
                AdditionalProperties = new OpenApiSchema { Type = JsonSchemaType.Array, Items = new OpenApiSchema { Type = JsonSchemaType.String } },
            },
        },
    };
}
