using System.Diagnostics;
using System.Net;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>A GraphQL-level error Shopify returned (syntax, ACCESS_DENIED, …); not retryable.</summary>
public sealed class ShopifyGraphQLException(string message, string? code) : Exception(message)
{
    public string? Code { get; } = code;
}

/// <summary>
/// Thin client for the GraphQL Admin API of one shop at a time. Retry rules depend on what a failure
/// means, which a generic HTTP pipeline cannot know, so they live here:
/// every call first waits its turn at the shop's cost bucket (<see cref="ShopifyCostBucket"/>), or is not sent
/// when that turn is further away than its caller waits; 401 → refresh the token once and resend; THROTTLED
/// (HTTP 200 with no data) → the bucket learns when to resend; 429 → honour Retry-After; 5xx/timeouts → back off and resend only
/// for queries, because a mutation may have been applied (the caller settles those by looking up).
/// </summary>
public sealed partial class ShopifyGraphQLClient(
    HttpClient http,
    AccessTokens tokens,
    ShopifyCostBucket bucket,
    ShopifyMetrics metrics,
    IOptions<ShopifyOptions> options,
    TimeProvider clock,
    ILogger<ShopifyGraphQLClient> logger)
{
    private readonly ShopifyOptions _options = options.Value;

    private TimeSpan DefaultMaxWait => TimeSpan.FromSeconds(_options.ThrottleMaxWaitSeconds);

    public Task<JsonElement> QueryAsync(string shop, string query, object? variables, CancellationToken ct) =>
        SendAsync(shop, query, variables, idempotent: true, DefaultMaxWait, ct);

    /// <summary>A query that waits at most <paramref name="maxThrottleWait"/> for the cost bucket (a customer is waiting).</summary>
    public Task<JsonElement> QueryAsync(string shop, string query, object? variables, TimeSpan? maxThrottleWait, CancellationToken ct) =>
        SendAsync(shop, query, variables, idempotent: true, maxThrottleWait ?? DefaultMaxWait, ct);

    public Task<JsonElement> MutateAsync(string shop, string mutation, object? variables, CancellationToken ct) =>
        SendAsync(shop, mutation, variables, idempotent: false, DefaultMaxWait, ct);

    public Task<JsonElement> MutateAsync(string shop, string mutation, object? variables, TimeSpan? maxThrottleWait, CancellationToken ct) =>
        SendAsync(shop, mutation, variables, idempotent: false, maxThrottleWait ?? DefaultMaxWait, ct);

    /// <summary>
    /// A mutation whose every send (the first, and each one after a THROTTLED, 429 or 401 answer) is preceded by
    /// <paramref name="beforeSend"/>: a caller that must know when it last sent (and may still be allowed to) says so there,
    /// and stops the call by throwing.
    /// </summary>
    public Task<JsonElement> MutateAsync(string shop, string mutation, object? variables, TimeSpan? maxThrottleWait,
        Func<CancellationToken, Task> beforeSend, CancellationToken ct) =>
        SendAsync(shop, mutation, variables, idempotent: false, maxThrottleWait ?? DefaultMaxWait, ct, beforeSend);

    private async Task<JsonElement> SendAsync(string shop, string document, object? variables, bool idempotent, TimeSpan maxWait,
        CancellationToken ct, Func<CancellationToken, Task>? beforeSend = null)
    {
        var url = $"{_options.ShopBaseUrl(shop)}/admin/api/{_options.ApiVersion}/graphql.json";
        var token = await tokens.GetAsync(shop, ct);
        var refreshedAfter401 = false;
        var throttled = 0;

        for (var attempt = 1; ; attempt++)
        {
            var last = attempt >= _options.GraphQLMaxAttempts;
            await AdmitAsync(shop, document, maxWait, beforeSend, ct);
            HttpResponseMessage response;
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Post, url)
                {
                    Content = JsonContent.Create(new { query = document, variables }),
                };
                request.Headers.Add("X-Shopify-Access-Token", token);
                response = await http.SendAsync(request, ct);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
                if (!idempotent || last) throw new ShopifyUnavailableException($"Shopify Admin API for {shop} could not be reached.", e);
                await BackOffAsync(attempt, ct);
                continue;
            }

            using (response)
            {
                if (response.StatusCode == HttpStatusCode.Unauthorized)
                {
                    if (refreshedAfter401) throw new ShopNotAuthorizedException(shop, "Shopify rejected a freshly refreshed token");
                    token = await tokens.RefreshAfterUnauthorizedAsync(shop, token, ct);
                    refreshedAfter401 = true;
                    continue;
                }
                if (response.StatusCode == HttpStatusCode.TooManyRequests)
                {
                    metrics.Throttled(ShopifyMetrics.Http429);
                    var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                    if (last || wait > maxWait) throw new ShopifyThrottledException(shop, wait);
                    LogWaiting(shop, "HTTP 429", wait.TotalMilliseconds);
                    await Task.Delay(wait, clock, ct);
                    continue;
                }
                if ((int)response.StatusCode >= 500)
                {
                    if (!idempotent || last) throw new ShopifyUnavailableException(
                        $"Shopify Admin API for {shop} answered {(int)response.StatusCode}.");
                    await BackOffAsync(attempt, ct);
                    continue;
                }
                if (!response.IsSuccessStatusCode)
                {
                    throw new ShopifyGraphQLException($"Shopify Admin API for {shop} answered {(int)response.StatusCode}.",
                        ((int)response.StatusCode).ToString());
                }

                // A cut or garbled answer: a mutation may have applied, so it is not sent again; a query is.
                using var json = await ReadAnswerAsync(response, ct);
                if (json is null)
                {
                    if (!idempotent || last)
                    {
                        throw new ShopifyUnavailableException($"Shopify Admin API for {shop} sent an answer that could not be read.");
                    }
                    await BackOffAsync(attempt, ct);
                    continue;
                }
                var root = json.RootElement;
                var status = ObserveCost(shop, document, root);
                if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0)
                {
                    var code = errors[0].TryGetProperty("extensions", out var ext) && ext.TryGetProperty("code", out var c) ? c.GetString() : null;
                    if (code == "THROTTLED")
                    {
                        metrics.Throttled(ShopifyMetrics.GraphQLThrottled);
                        // Nothing was applied. With a throttleStatus the bucket now knows when to send again, and the
                        // next admission waits for it (or hands the call back); without one, wait a second.
                        if (++throttled >= _options.GraphQLMaxThrottleWaits) throw new ShopifyThrottledException(shop, TimeSpan.FromSeconds(1));
                        attempt--; // a throttled answer is not a failed attempt
                        if (!status)
                        {
                            if (TimeSpan.FromSeconds(1) > maxWait) throw new ShopifyThrottledException(shop, TimeSpan.FromSeconds(1));
                            LogWaiting(shop, "THROTTLED", 1000);
                            await Task.Delay(TimeSpan.FromSeconds(1), clock, ct);
                        }
                        continue;
                    }
                    var message = errors[0].TryGetProperty("message", out var m) ? m.GetString() : "GraphQL error";
                    throw new ShopifyGraphQLException($"Shopify Admin API for {shop}: {message}", code);
                }
                if (!root.TryGetProperty("data", out var data) || data.ValueKind != JsonValueKind.Object)
                {
                    throw new ShopifyGraphQLException($"Shopify Admin API for {shop} answered without data.", null);
                }
                return data.Clone();
            }
        }
    }

    /// <summary>
    /// Waits until the shop's cost bucket covers the call, or throws when that is further away than <paramref name="maxWait"/>; then
    /// <paramref name="beforeSend"/>, the caller's record that it sends. When this instance last saw the bucket with room to spare
    /// (<see cref="ShopifyCostBucket.LikelyCovers"/>), the record is written beside the reservation, one round trip instead of two on
    /// the caller's path. It still comes before the send, and unless the reservation was over within
    /// <see cref="ShopifyOptions.SendRecordSlackMs"/> of the start with no wait, the record is written again right before the send:
    /// the time a caller counts an unanswered send from is never earlier than the send by more than that. A call handed back after
    /// such a record throws as before, and its caller treats the record as it treats a send refused (nothing was applied); one
    /// cancelled or failed in between leaves it, which only makes the next drive look before sending.
    /// </summary>
    private async Task AdmitAsync(string shop, string document, TimeSpan maxWait, Func<CancellationToken, Task>? beforeSend,
        CancellationToken ct)
    {
        var cost = bucket.ExpectedCost(document);
        var beside = beforeSend is not null && _options.SendRecordSlackMs > 0 && bucket.LikelyCovers(shop, cost);
        var started = Stopwatch.GetTimestamp();
        var reserving = bucket.TryReserveAsync(shop, cost, maxWait, ct);
        var recording = beside ? RecordAsync(beforeSend!, ct) : null;
        var (reserved, wait) = recording is null ? await reserving : await ReservedBesideAsync(shop, cost, reserving, recording);
        var took = Stopwatch.GetElapsedTime(started);
        if (!reserved)
        {
            LogHandedBack(shop, wait.TotalMilliseconds, maxWait.TotalMilliseconds);
            throw new ShopifyThrottledException(shop, wait);
        }
        if (wait > TimeSpan.Zero) await WaitTurnAsync(shop, cost, wait, ct);
        if (beforeSend is null) return;
        if (recording is null || wait > TimeSpan.Zero || took > TimeSpan.FromMilliseconds(_options.SendRecordSlackMs)) await beforeSend(ct);
    }

    /// <summary>
    /// The reservation, once the record written beside it is done too. A record refused (a lease lost) stops the call as before,
    /// and the points reserved for it go back.
    /// </summary>
    private async Task<(bool Reserved, TimeSpan Wait)> ReservedBesideAsync(string shop, double cost, Task<(bool Reserved, TimeSpan Wait)> reserving,
        Task recording)
    {
        try
        {
            await Task.WhenAll(reserving, recording);
        }
        catch when (!recording.IsCompletedSuccessfully && reserving.IsCompletedSuccessfully && reserving.Result is { Reserved: true } r
                    && r.Wait > TimeSpan.Zero) // counted as waiting; one that was not is spent, as a call refused after its reservation always was
        {
            await bucket.ReleaseAsync(shop, cost);
            throw;
        }
        return await reserving;
    }

    /// <summary>The caller's record as a task, even when it throws before returning one: the reservation beside it is still awaited.</summary>
    private static async Task RecordAsync(Func<CancellationToken, Task> beforeSend, CancellationToken ct) => await beforeSend(ct);

    /// <summary>The wait the bucket asked for; a call cancelled meanwhile gives its points back.</summary>
    private async Task WaitTurnAsync(string shop, double cost, TimeSpan wait, CancellationToken ct)
    {
        LogWaiting(shop, "cost bucket", wait.TotalMilliseconds);
        try
        {
            await Task.Delay(wait, clock, ct);
        }
        catch (OperationCanceledException)
        {
            await bucket.ReleaseAsync(shop, cost);
            throw;
        }
        await bucket.SendingAsync(shop, cost);
    }

    /// <summary>Feeds <c>extensions.cost.throttleStatus</c> to the bucket; false when the response had none.</summary>
    private bool ObserveCost(string shop, string document, JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object
            || !root.TryGetProperty("extensions", out var ext) || ext.ValueKind != JsonValueKind.Object
            || !ext.TryGetProperty("cost", out var cost) || cost.ValueKind != JsonValueKind.Object
            || !cost.TryGetProperty("throttleStatus", out var status) || status.ValueKind != JsonValueKind.Object
            || !TryNumber(status, "maximumAvailable", out var maximum)
            || !TryNumber(status, "currentlyAvailable", out var available)
            || !TryNumber(status, "restoreRate", out var rate))
        {
            return false;
        }
        double? requested = TryNumber(cost, "requestedQueryCost", out var r) ? r : null;
        bucket.Observe(shop, document, requested, maximum, available, rate);
        return true;
    }

    private static bool TryNumber(JsonElement e, string name, out double value)
    {
        value = 0;
        return e.TryGetProperty(name, out var p) && p.ValueKind == JsonValueKind.Number && p.TryGetDouble(out value);
    }

    /// <summary>Shopify's answer as JSON, or null when it was cut short or is not JSON.</summary>
    private static async Task<JsonDocument?> ReadAnswerAsync(HttpResponseMessage response, CancellationToken ct)
    {
        try
        {
            return await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
        }
        catch (Exception e) when (e is JsonException or IOException or HttpRequestException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    private Task BackOffAsync(int attempt, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(Math.Min(_options.GraphQLRetryBaseDelayMs * Math.Pow(2, attempt - 1), 8000)
                                              * (0.8 + Random.Shared.NextDouble() * 0.4));
        return Task.Delay(delay, clock, ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Waiting {DelayMs:F0} ms before sending to {Shop} ({Reason})")]
    private partial void LogWaiting(string shop, string reason, double delayMs);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Not sending to {Shop}: its cost bucket covers the call in {WaitMs:F0} ms, more than the {MaxWaitMs:F0} ms this caller waits")]
    private partial void LogHandedBack(string shop, double waitMs, double maxWaitMs);
}
