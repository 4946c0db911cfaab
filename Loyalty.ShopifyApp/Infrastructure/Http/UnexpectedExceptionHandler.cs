using Microsoft.AspNetCore.Diagnostics;

namespace Loyalty.ShopifyApp.Infrastructure.Http;

/// <summary>
/// The one place unexpected exceptions end: logged with the request, answered as a ProblemDetails
/// without internals. Malformed requests that ASP.NET Core rejects itself keep their 4xx status.
/// </summary>
public sealed partial class UnexpectedExceptionHandler(ILogger<UnexpectedExceptionHandler> logger) : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        if (httpContext.Response.HasStarted) return false;

        if (exception is BadHttpRequestException bad)
        {
            var status = bad.StatusCode is >= 400 and < 500 ? bad.StatusCode : StatusCodes.Status400BadRequest;
            LogBadRequest(httpContext.Request.Method, httpContext.Request.Path, status, bad.Message);
            await Problems.WriteAsync(httpContext, status == StatusCodes.Status413PayloadTooLarge
                ? Problems.Create(status, "payload_too_large", "The request body is too large.", bad.Message)
                : Problems.Create(status, "bad_request", "The request could not be read.", bad.Message));
            return true;
        }

        if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nothing to answer.
            return true;
        }

        if (IsTextTheDatabaseCannotStore(exception))
        {
            // A field without its StoredText check: bad input all the same, so a 4xx, and a warning so the field gets one.
            LogUnstorableText(httpContext.Request.Method, httpContext.Request.Path);
            await Problems.WriteAsync(httpContext, Problems.Validation("invalid_text", "The request holds a character that cannot be stored.",
                StoredText.NulRule));
            return true;
        }

        if (IsDatabaseUnavailable(exception))
        {
            // The database went away (a restart, a failover, a cut connection): an outage, not a bug. Whatever the request
            // had started is either committed or rolled back and finished by the background jobs; the same request with
            // the same Idempotency-Key may be sent again.
            LogDatabaseUnavailable(httpContext.Request.Method, httpContext.Request.Path, exception.Message);
            httpContext.Response.Headers.RetryAfter = "5";
            await Problems.WriteAsync(httpContext, Problems.Create(StatusCodes.Status503ServiceUnavailable, "database_unavailable",
                "The service is briefly unavailable; please try again in a few seconds."));
            return true;
        }

        LogUnexpected(exception, httpContext.Request.Method, httpContext.Request.Path, httpContext.TraceIdentifier);
        await Problems.WriteAsync(httpContext, Problems.Create(StatusCodes.Status500InternalServerError, "internal_error",
            "Something went wrong on our side.", $"Quote trace id {httpContext.TraceIdentifier} when reporting this."));
        return true;
    }

    /// <summary>
    /// What this handler may answer any request with, for the API description: a malformed parameter or body (400; 415 for a
    /// body that is not JSON, 413 past the server's size limit), text the database cannot store, the database away, a bug.
    /// </summary>
    public static IEnumerable<ApiDeclarations.ProblemAnswers> Answers(bool withBody)
    {
        yield return new(StatusCodes.Status400BadRequest, ["bad_request"]);
        if (withBody)
        {
            yield return new(StatusCodes.Status413PayloadTooLarge, ["payload_too_large"]);
            yield return new(StatusCodes.Status415UnsupportedMediaType, ["bad_request"]);
        }
        yield return new(StatusCodes.Status422UnprocessableEntity, ["invalid_text"]);
        yield return new(StatusCodes.Status500InternalServerError, ["internal_error"]);
        yield return new(StatusCodes.Status503ServiceUnavailable, ["database_unavailable"]);
    }

    private static bool IsDatabaseUnavailable(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is Npgsql.NpgsqlException { IsTransient: true }) return true;
        }
        return false;
    }

    private static bool IsTextTheDatabaseCannotStore(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is Npgsql.PostgresException
                {
                    SqlState: Npgsql.PostgresErrorCodes.CharacterNotInRepertoire or Npgsql.PostgresErrorCodes.UntranslatableCharacter,
                })
            {
                return true;
            }
        }
        return false;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "{Method} {Path} answered 422 invalid_text: a NUL reached the database; give the field a StoredText check")]
    private partial void LogUnstorableText(string method, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Method} {Path} answered 503: the database is unavailable ({Reason})")]
    private partial void LogDatabaseUnavailable(string method, string path, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "Unhandled exception for {Method} {Path} (trace {TraceId})")]
    private partial void LogUnexpected(Exception exception, string method, string path, string traceId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Rejected malformed request {Method} {Path} with {Status}: {Reason}")]
    private partial void LogBadRequest(string method, string path, int status, string reason);
}
