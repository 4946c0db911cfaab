using Microsoft.AspNetCore.Mvc;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// Expected failures are ProblemDetails carrying a stable machine-readable <c>code</c> extension;
/// clients switch on the code, people read the title and detail.
/// </summary>
public static class Problems
{
    /// <summary>
    /// Problem details for every error answer, <see cref="UnexpectedExceptionHandler"/> for what no endpoint expected, and a
    /// malformed parameter or JSON body thrown to it in every environment (ASP.NET Core only does so in Development, and
    /// elsewhere answers a bare 400), so it too is a problem with a <c>code</c>: <c>bad_request</c>.
    /// </summary>
    public static IServiceCollection AddProblemAnswers(this IServiceCollection services)
    {
        services.AddProblemDetails();
        services.AddExceptionHandler<UnexpectedExceptionHandler>();
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true);
        return services;
    }

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
