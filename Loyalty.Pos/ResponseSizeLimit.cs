namespace Loyalty.Pos;

/// <summary>An answer longer than the client reads; the call fails and is not retried (the next try would be as long).</summary>
public sealed class ResponseTooLargeException(long limit)
    : IOException($"The answer was larger than {limit} bytes, the most this client reads.")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// Reads each answer whole before handing it up, but never more than <paramref name="maxBytes"/>: a Content-Length
/// over the limit fails at once, and a body without one fails as soon as it passes the limit. Hosts that merchants
/// type in (a POS, an event endpoint) could otherwise stream hundreds of megabytes into the memory of an instance
/// every shop shares. Registered inside the resilience pipeline, so a body cut off by a dropped connection is a
/// failed attempt the retry sees.
/// </summary>
public sealed class ResponseSizeLimitHandler(long maxBytes) : DelegatingHandler
{
    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var response = await base.SendAsync(request, cancellationToken);
        try
        {
            response.Content = await ReadAsync(response.Content, maxBytes, cancellationToken);
        }
        catch
        {
            response.Dispose();
            throw;
        }
        return response;
    }

    /// <summary>The content read into memory (its headers kept), or <see cref="ResponseTooLargeException"/> past <paramref
    /// name="maxBytes"/>.</summary>
    public static async Task<HttpContent> ReadAsync(HttpContent content, long maxBytes, CancellationToken ct)
    {
        if (content.Headers.ContentLength > maxBytes) throw new ResponseTooLargeException(maxBytes);
        var body = new MemoryStream();
        try
        {
            await using var stream = await content.ReadAsStreamAsync(ct);
            var chunk = new byte[16 * 1024];
            int read;
            while ((read = await stream.ReadAsync(chunk, ct)) > 0)
            {
                if (body.Length + read > maxBytes) throw new ResponseTooLargeException(maxBytes);
                body.Write(chunk, 0, read);
            }
        }
        catch (IOException e) when (e is not ResponseTooLargeException)
        {
            // As HttpClient's own buffering reports it: a body cut off is a transport failure, which callers retry.
            throw new HttpRequestException($"Error while reading the answer: {e.Message}", e);
        }
        var bounded = new ByteArrayContent(body.GetBuffer(), 0, (int)body.Length);
        foreach (var (name, values) in content.Headers.NonValidated)
        {
            if (!name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase)) bounded.Headers.TryAddWithoutValidation(name, values);
        }
        content.Dispose();
        return bounded;
    }
}
