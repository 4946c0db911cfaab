using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.Options;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>A GraphQL-level error Shopify returned (syntax, ACCESS_DENIED, …); not retryable.</summary>
public sealed class ShopifyGraphQLException(string message, string? code) : Exception(message)
{
    public string? Code { get; } = code;
}

/// <summary>
/// Thin client for the GraphQL Admin API of one shop at a time. Retry rules depend on what a failure
/// means, which a generic HTTP pipeline cannot know, so they live here:
/// 401 → refresh the token once and resend; THROTTLED (HTTP 200 with no data) → wait until the cost
/// bucket has refilled and resend; 429 → honour Retry-After; 5xx/timeouts → back off and resend only
/// for queries, because a mutation may have been applied (the caller settles those by looking up).
/// </summary>
public sealed partial class ShopifyGraphQLClient(
    HttpClient http,
    AccessTokens tokens,
    IOptions<ShopifyOptions> options,
    TimeProvider clock,
    ILogger<ShopifyGraphQLClient> logger)
{
    private readonly ShopifyOptions _options = options.Value;

    public Task<JsonElement> QueryAsync(string shop, string query, object? variables, CancellationToken ct) =>
        SendAsync(shop, query, variables, idempotent: true, ct);

    public Task<JsonElement> MutateAsync(string shop, string mutation, object? variables, CancellationToken ct) =>
        SendAsync(shop, mutation, variables, idempotent: false, ct);

    private async Task<JsonElement> SendAsync(string shop, string document, object? variables, bool idempotent, CancellationToken ct)
    {
        var url = $"{_options.ShopBaseUrl(shop)}/admin/api/{_options.ApiVersion}/graphql.json";
        var token = await tokens.GetAsync(shop, ct);
        var refreshedAfter401 = false;

        for (var attempt = 1; ; attempt++)
        {
            var last = attempt >= _options.GraphQLMaxAttempts;
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
                    if (last) throw new ShopifyUnavailableException($"Shopify kept answering 429 for {shop}.");
                    var wait = response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1);
                    LogWaiting(shop, "HTTP 429", wait.TotalMilliseconds);
                    await Task.Delay(wait, clock, ct);
                    continue;
                }
                if ((int)response.StatusCode >= 500)
                {
                    if (!idempotent || last) throw new ShopifyUnavailableException($"Shopify Admin API for {shop} answered {(int)response.StatusCode}.");
                    await BackOffAsync(attempt, ct);
                    continue;
                }
                if (!response.IsSuccessStatusCode)
                {
                    throw new ShopifyGraphQLException($"Shopify Admin API for {shop} answered {(int)response.StatusCode}.", ((int)response.StatusCode).ToString());
                }

                using var json = await JsonDocument.ParseAsync(await response.Content.ReadAsStreamAsync(ct), cancellationToken: ct);
                var root = json.RootElement;
                if (root.TryGetProperty("errors", out var errors) && errors.ValueKind == JsonValueKind.Array && errors.GetArrayLength() > 0)
                {
                    var code = errors[0].TryGetProperty("extensions", out var ext) && ext.TryGetProperty("code", out var c) ? c.GetString() : null;
                    if (code == "THROTTLED")
                    {
                        if (attempt >= _options.GraphQLMaxThrottleWaits) throw new ShopifyUnavailableException($"Shopify kept throttling {shop}.");
                        var wait = ThrottleWait(root);
                        LogWaiting(shop, "THROTTLED", wait.TotalMilliseconds);
                        await Task.Delay(wait, clock, ct);
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

    /// <summary>(requested cost − available) / restore rate, per Shopify's leaky-bucket rules, plus a little jitter.</summary>
    private static TimeSpan ThrottleWait(JsonElement root)
    {
        double seconds = 1;
        if (root.TryGetProperty("extensions", out var ext) && ext.TryGetProperty("cost", out var cost)
            && cost.TryGetProperty("throttleStatus", out var status)
            && status.TryGetProperty("currentlyAvailable", out var available)
            && status.TryGetProperty("restoreRate", out var rate) && rate.GetDouble() > 0)
        {
            var requested = cost.TryGetProperty("requestedQueryCost", out var r) && r.ValueKind == JsonValueKind.Number ? r.GetDouble() : 50;
            seconds = Math.Max(0.05, (requested - available.GetDouble()) / rate.GetDouble());
        }
        return TimeSpan.FromSeconds(Math.Min(seconds, 30) + Random.Shared.NextDouble() * 0.05);
    }

    private Task BackOffAsync(int attempt, CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(Math.Min(_options.GraphQLRetryBaseDelayMs * Math.Pow(2, attempt - 1), 8000)
                                              * (0.8 + Random.Shared.NextDouble() * 0.4));
        return Task.Delay(delay, clock, ct);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Waiting {DelayMs} ms before resending to {Shop} ({Reason})")]
    private partial void LogWaiting(string shop, string reason, double delayMs);
}
