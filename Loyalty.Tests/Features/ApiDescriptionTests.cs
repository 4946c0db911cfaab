using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Routing;

namespace Loyalty.Tests.Features;

/// <summary>The OpenAPI document describes every API endpoint the app maps; only pages stay out of it.</summary>
public sealed partial class ApiDescriptionTests
{
    /// <summary>What may stay out of the description: pages, the sandbox's own controls, and the description itself.</summary>
    private static readonly Regex Undescribed = PagesAndTools();

    [GeneratedRegex(@"^(/|/admin|/proxy/|/sandbox/.*|/openapi/v1\.json|/scalar/\{documentName\?\})$")]
    private static partial Regex PagesAndTools();

    [Fact]
    public async Task Every_api_endpoint_is_in_the_openapi_document_with_its_method_and_an_error_answer()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);

        var response = await app.Http.GetAsync("/openapi/v1.json");
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var described = document.RootElement.GetProperty("paths").EnumerateObject()
            .SelectMany(path => path.Value.EnumerateObject().Select(op => (Path: path.Name, Method: op.Name.ToUpperInvariant(), Operation: op.Value)))
            .ToList();
        var endpoints = app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .SelectMany(e => (e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods ?? ["*"]).Select(m => (
                Route: "/" + (e.RoutePattern.RawText ?? "").TrimStart('/'), Method: m,
                Excluded: e.Metadata.GetMetadata<Microsoft.AspNetCore.Routing.IExcludeFromDescriptionMetadata>()?.ExcludeFromDescription == true)))
            .ToList();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var missing = endpoints.Where(e => !e.Excluded && !described.Any(d => d.Path == Normalize(e.Route) && d.Method == e.Method))
            .Select(e => $"{e.Method} {e.Route}").ToList();
        Assert.True(missing.Count == 0, "not in the document: " + string.Join(", ", missing));
        var hidden = endpoints.Where(e => e.Excluded && !Undescribed.IsMatch(e.Route)).Select(e => $"{e.Method} {e.Route}").ToList();
        Assert.True(hidden.Count == 0, "left out of the document but not a page: " + string.Join(", ", hidden));
        Assert.Contains(described, d => d.Path == "/api/admin/settings" && d.Method == "PUT");
        Assert.Contains(described, d => d.Path == "/webhooks" && d.Method == "POST");
        Assert.All(described, d => Assert.True(d.Operation.GetProperty("responses").TryGetProperty("default", out var error)
            && error.GetProperty("content").TryGetProperty("application/problem+json", out _), $"{d.Method} {d.Path} names no error answer"));
        Assert.True(described.Count >= 40, $"only {described.Count} operations described");
    }

    [Fact]
    public async Task A_malformed_json_body_is_a_problem_with_the_bad_request_code_outside_development_too()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(shopify, shop);

        using var response = await app.Http.SendAsync(app.Admin(HttpMethod.Put, "/api/admin/settings", shop,
            new StringContent("{not json", Encoding.UTF8, "application/json")));
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("bad_request", problem.RootElement.GetProperty("code").GetString());
    }

    /// <summary>A route as OpenAPI writes its path: parameters without their constraints.</summary>
    internal static string Normalize(string route) => Regex.Replace(route.Length > 1 ? route.TrimEnd('/') : route, @"\{([^}:?=]+)[^}]*\}", "{$1}");
}
