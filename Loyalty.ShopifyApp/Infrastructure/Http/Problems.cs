using Microsoft.AspNetCore.Mvc;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// Expected failures are ProblemDetails carrying a stable machine-readable <c>code</c> extension;
/// clients switch on the code, people read the title and detail.
/// </summary>
public static class Problems
{
    public static ProblemHttpResult Create(int status, string code, string title, string? detail = null,
        IDictionary<string, object?>? extensions = null)
    {
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail };
        problem.Extensions["code"] = code;
        if (extensions is not null)
        {
            foreach (var (k, v) in extensions) problem.Extensions[k] = v;
        }
        return TypedResults.Problem(problem);
    }

    public static ProblemHttpResult BadRequest(string code, string title, string? detail = null) =>
        Create(StatusCodes.Status400BadRequest, code, title, detail);

    public static ProblemHttpResult Unauthorized(string code, string title, string? detail = null) =>
        Create(StatusCodes.Status401Unauthorized, code, title, detail);

    public static ProblemHttpResult NotFound(string code, string title, string? detail = null) =>
        Create(StatusCodes.Status404NotFound, code, title, detail);

    public static ProblemHttpResult Validation(string code, string title, string? detail = null, IDictionary<string, object?>? extensions = null) =>
        Create(StatusCodes.Status422UnprocessableEntity, code, title, detail, extensions);

    public static ProblemHttpResult Unavailable(string code, string title, string? detail = null) =>
        Create(StatusCodes.Status503ServiceUnavailable, code, title, detail);

    /// <summary>Writes a problem from middleware or a filter, where no result is returned.</summary>
    public static Task WriteAsync(HttpContext context, ProblemHttpResult problem) => problem.ExecuteAsync(context);
}
