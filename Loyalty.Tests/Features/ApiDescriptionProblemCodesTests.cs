using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Routing;

namespace Loyalty.Tests.Features;

/// <summary>
/// The problem codes the OpenAPI document lists for each operation are the ones the code answers with. Every code a feature's
/// class passes to <c>Problems</c> (or to a helper that makes one) is declared, at its status, on an endpoint of that class;
/// every code the middleware and filters in front of a route group answer with is declared on the group; and no operation
/// declares a code its feature's source, or the code in front of it, never mentions.
/// </summary>
public sealed partial class ApiDescriptionProblemCodesTests
{
    /// <summary>Sources that answer for every operation under a path: the exception handler, middleware, group filters.</summary>
    private static readonly (string Prefix, string[] Files)[] InFront =
    [
        ("/", ["Infrastructure/Http/UnexpectedExceptionHandler.cs"]),
        ("/api/admin/", ["Infrastructure/Shopify/SessionTokens.cs", "Features/Admin/AdminApi.cs"]),
        ("/proxy/", ["Infrastructure/Shopify/AppProxy.cs", "Features/Storefront/StorefrontRateLimits.cs"]),
    ];

    private sealed record Operation(string Method, string Path, Type Handler, HashSet<(int Status, string Code)> Declared)
    {
        public override string ToString() => $"{Method} {Path}";
    }

    [Fact]
    public async Task Every_problem_code_the_source_answers_with_is_declared_and_every_declared_code_is_in_the_source()
    {
        var operations = await OperationsAsync();

        var failures = Check(operations);

        Assert.True(operations.Count >= 40, $"only {operations.Count} operations found");
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
    }

    [Fact]
    public async Task The_check_names_a_code_whose_declaration_is_removed_and_codes_declared_in_excess()
    {
        var operations = await OperationsAsync();
        var change = operations.Single(o => o is { Method: "PUT", Path: "/api/admin/campaigns/{id}" });
        var delete = operations.Single(o => o is { Method: "DELETE", Path: "/api/admin/campaigns/{id}" });
        change.Declared.Remove((404, "campaign_not_found"));
        delete.Declared.Remove((404, "campaign_not_found"));
        change.Declared.Add((409, "campaign_vanished"));
        change.Declared.Add((404, "invalid_campaign"));
        operations.Single(o => o.Path == "/api/admin/coupons/{code}/redemptions").Declared.Add((409, "campaign_not_retryable")); // ResumeCampaign's

        var failures = Check(operations);

        Assert.Contains(failures, f => f.Contains("ChangeCampaign answers 404 campaign_not_found", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("declares 409 campaign_vanished", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("declares 404 invalid_campaign but its source answers it with 422", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.Contains("redemptions declares 409 campaign_not_retryable", StringComparison.Ordinal));
    }

    private static List<string> Check(IReadOnlyList<Operation> operations)
    {
        var failures = new List<string>();
        foreach (var byClass in operations.GroupBy(o => o.Handler))
        {
            var declared = byClass.SelectMany(o => o.Declared).ToHashSet();
            foreach (var (status, code) in Answered(SourceOf(byClass.Key)))
            {
                if (!declared.Any(d => d.Code == code && (status is null || d.Status == status)))
                {
                    failures.Add($"{byClass.Key.Name} answers {status?.ToString(CultureInfo.InvariantCulture) ?? "a"} {code} but none of its "
                                 + $"endpoints declares it ({string.Join(", ", byClass)})");
                }
            }
        }
        foreach (var (prefix, files) in InFront)
        {
            var inScope = operations.Where(o => o.Path.StartsWith(prefix, StringComparison.Ordinal)).ToList();
            foreach (var (status, code) in files.SelectMany(f => Answered(Read(f))))
            {
                if (!inScope.Any(o => o.Declared.Any(d => d.Code == code && (status is null || d.Status == status))))
                {
                    failures.Add($"{string.Join(" or ", files)} answers {status} {code} but no operation under {prefix} declares it");
                }
            }
        }
        var endpointFiles = operations.Select(o => o.Handler).Distinct().SelectMany(SourceFiles).ToHashSet();
        foreach (var operation in operations)
        {
            var inFront = InFront.Where(s => operation.Path.StartsWith(s.Prefix, StringComparison.Ordinal)).SelectMany(s => s.Files);
            var answered = Answered(SourceOf(operation.Handler)).Concat(inFront.SelectMany(f => Answered(Read(f)))).ToList();
            var mentions = Mentions(operation.Handler, endpointFiles);
            foreach (var (status, code) in operation.Declared)
            {
                var statuses = answered.Where(a => a.Code == code).Select(a => a.Status).Distinct().ToList();
                if (statuses.Count == 0 && !mentions(code))
                {
                    failures.Add($"{operation} declares {status} {code}, which no source of it answers with (a stale declaration?)");
                }
                else if (statuses.Count > 0 && !statuses.Any(s => s is null || s == status))
                {
                    failures.Add($"{operation} declares {status} {code} but its source answers it with {string.Join(", ", statuses)}");
                }
            }
        }
        return failures;
    }

    /// <summary>Every described operation with the class of its handler and the (status, code) pairs the document lists for it.</summary>
    private static async Task<List<Operation>> OperationsAsync()
    {
        using var shopify = new ShopifyFake();
        await using var app = await LoyaltyApp.StartAsync(shopify);
        using var document = JsonDocument.Parse(await app.Http.GetStringAsync("/openapi/v1.json"));
        var paths = document.RootElement.GetProperty("paths");
        return app.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Where(e => e.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>()?.ExcludeFromDescription != true)
            .Where(e => e.Metadata.GetMetadata<MethodInfo>() is not null)
            .SelectMany(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods.Select(method =>
            {
                var path = ApiDescriptionTests.Normalize("/" + (e.RoutePattern.RawText ?? "").TrimStart('/'));
                var operation = paths.GetProperty(path).GetProperty(method.ToLowerInvariant());
                return new Operation(method, path, FeatureClass(e.Metadata.GetMetadata<MethodInfo>()!), Declared(operation));
            }))
            .ToList();
    }

    private static HashSet<(int, string)> Declared(JsonElement operation) =>
        operation.GetProperty("responses").EnumerateObject()
            .Where(r => int.TryParse(r.Name, CultureInfo.InvariantCulture, out _) && r.Value.TryGetProperty("content", out var c)
                        && c.TryGetProperty("application/problem+json", out _))
            .SelectMany(r =>
            {
                var code = r.Value.GetProperty("content").GetProperty("application/problem+json").GetProperty("schema")
                    .GetProperty("properties").GetProperty("code");
                var codes = code.TryGetProperty("enum", out var e) ? e : code.GetProperty("examples");
                return codes.EnumerateArray().Select(c => (int.Parse(r.Name, CultureInfo.InvariantCulture), c.GetString()!));
            })
            .ToHashSet();

    /// <summary>The class a handler was written in: lambdas live in compiler-made classes nested in it.</summary>
    private static Type FeatureClass(MethodInfo handler)
    {
        var type = handler.DeclaringType!;
        while (type.DeclaringType is not null && type.IsDefined(typeof(CompilerGeneratedAttribute))) type = type.DeclaringType;
        return type;
    }
}
