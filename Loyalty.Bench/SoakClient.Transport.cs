using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>How the soak reaches the app instances: one request resent across instances until it is answered, and reading the answers.</summary>
public sealed partial class SoakClient
{
    /// <summary>
    /// A lost connection (an instance killed, or down) is re-sent to the next instance, the same request with the
    /// same key, for up to two minutes. A 5xx is the app's answer and returned, except for webhooks, which
    /// Shopify delivers again until they are acknowledged.
    /// </summary>
    private Task<(HttpResponseMessage Response, bool Resent)> SendAsync(Func<Uri, HttpRequestMessage> build, CancellationToken ct) =>
        SendAsync(build, retry5xx: false, ct);

    private async Task<(HttpResponseMessage Response, bool Resent)> SendAsync(Func<Uri, HttpRequestMessage> build, bool retry5xx,
        CancellationToken ct)
    {
        var deadline = Stopwatch.StartNew();
        var resent = false;
        while (true)
        {
            var app = env.Apps[(int)((uint)Interlocked.Increment(ref _next) % env.Apps.Count)];
            record.CountRequest();
            try
            {
                var response = await _http.SendAsync(build(app.BaseUrl), ct);
                if (response.StatusCode == HttpStatusCode.ServiceUnavailable && deadline.Elapsed < TimeSpan.FromMinutes(2)
                    && (await response.Content.ReadAsStringAsync(ct)).Contains("\"database_unavailable\"", StringComparison.Ordinal))
                {
                    // As My Page does: the database was away, nothing was decided; the same request goes again.
                    record.CountTransportRetry();
                    response.Dispose();
                    resent = true;
                    await Task.Delay(500, ct);
                    continue;
                }
                if ((int)response.StatusCode >= 500)
                {
                    record.CountResponse5xx();
                    if (retry5xx && deadline.Elapsed < TimeSpan.FromMinutes(2))
                    {
                        response.Dispose();
                        await Task.Delay(200, ct);
                        continue;
                    }
                }
                return (response, resent);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested
                                      && deadline.Elapsed < TimeSpan.FromMinutes(2))
            {
                record.CountTransportRetry();
                resent = true;
                await Task.Delay(200, ct);
            }
        }
    }

    private static HttpRequestMessage Proxy(Uri app, HttpMethod method, string path, long customer, object? body, string? key)
    {
        var r = new HttpRequestMessage(method, new Uri(app, "/proxy/" + path + "?"
            + ShopifyOutbound.AppProxyQuery(BenchEnvironment.Shop, customer, BenchEnvironment.ClientSecret)));
        if (body is not null) r.Content = new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json");
        if (key is not null) r.Headers.Add("Idempotency-Key", key);
        return r;
    }

    private static string? Text(JsonElement body, string name) =>
        body.ValueKind == JsonValueKind.Object && body.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static async Task<JsonElement> BodyAsync(HttpResponseMessage response, CancellationToken ct)
    {
        var text = await response.Content.ReadAsStringAsync(ct);
        try { return text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(); }
        catch (JsonException) { return default; }
    }
}
