using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>What the merchant sends (admin API: adjustments, settings, reads, retries) and what Shopify sends (webhooks).</summary>
public sealed partial class SoakClient
{
    /// <summary>A points adjustment through the admin API (a bonus, or a negative adjustment); the status answered.</summary>
    public async Task<HttpStatusCode> AdjustAsync(long customer, long points, string key, string description, CancellationToken ct)
    {
        var (response, _) = await SendAsync(b =>
        {
            var r = BenchEnvironment.AdminRequest(HttpMethod.Post, new Uri(b, $"/api/admin/customers/{customer}/points").ToString());
            r.Content = JsonContent.Create(new { points, description });
            r.Headers.Add("Idempotency-Key", key);
            return r;
        }, ct);
        using var _ = response;
        return response.StatusCode;
    }

    public async Task WebhookAsync(string topic, string body, string? id, CancellationToken ct)
    {
        var webhookId = id ?? Guid.NewGuid().ToString();
        var triggeredAt = DateTimeOffset.UtcNow; // a resend after a lost connection or a 5xx is the same event, triggered then
        var (response, _) = await SendAsync(b => ShopifyOutbound.Webhook(new Uri(b, "/webhooks"), topic, BenchEnvironment.Shop, body,
            BenchEnvironment.ClientSecret, webhookId, triggeredAt),
            retry5xx: true, ct);
        using var _ = response;
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Webhook {topic} answered {(int)response.StatusCode}.");
    }

    /// <summary>The merchant changes settings (partial, as the admin page sends them): the status and the problem's code.</summary>
    public async Task<(int Status, string? Code)> PutSettingsAsync(object settings, CancellationToken ct)
    {
        var (response, _) = await SendAsync(b =>
        {
            var r = BenchEnvironment.AdminRequest(HttpMethod.Put, new Uri(b, "/api/admin/settings").ToString());
            r.Content = JsonContent.Create(settings);
            return r;
        }, retry5xx: true, ct);
        using var _ = response;
        return ((int)response.StatusCode, Text(await BodyAsync(response, ct), "code"));
    }

    /// <summary>An admin API change (JSON in and out): the JSON answered, or throws.</summary>
    public async Task<JsonElement> AdminSendAsync(HttpMethod method, string path, object body, CancellationToken ct)
    {
        var (response, _) = await SendAsync(b =>
        {
            var r = BenchEnvironment.AdminRequest(method, new Uri(b, path).ToString());
            r.Content = JsonContent.Create(body);
            return r;
        }, retry5xx: true, ct);
        using var _ = response;
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{method} {path} answered {(int)response.StatusCode}.");
        return await BodyAsync(response, ct);
    }

    /// <summary>An admin API read (the merchant's pages): the JSON answered, or throws.</summary>
    public async Task<JsonElement> AdminGetAsync(string path, CancellationToken ct)
    {
        var (response, _) = await SendAsync(b => BenchEnvironment.AdminRequest(HttpMethod.Get, new Uri(b, path).ToString()), retry5xx: true, ct);
        using var _ = response;
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"GET {path} answered {(int)response.StatusCode}.");
        return await BodyAsync(response, ct);
    }

    /// <summary>
    /// The merchant resolves an incident: the status answered (409 <c>incident_resolved</c> when the app closed it meanwhile, as it does when
    /// a list it was about goes through after all).
    /// </summary>
    public async Task<int> ResolveIncidentAsync(long id, string resolution, CancellationToken ct)
    {
        var (response, _) = await SendAsync(b =>
        {
            var r = BenchEnvironment.AdminRequest(HttpMethod.Post, new Uri(b, $"/api/admin/coupon-incidents/{id}/resolve").ToString());
            r.Content = JsonContent.Create(new { resolution });
            return r;
        }, retry5xx: true, ct);
        using var _ = response;
        return (int)response.StatusCode;
    }

    /// <summary>The merchant retries a refused POS change (after fixing what the POS refused it for).</summary>
    public async Task<int> RetryPosChangeAsync(long id, CancellationToken ct)
    {
        var (response, _) = await SendAsync(b => BenchEnvironment.AdminRequest(HttpMethod.Post,
            new Uri(b, $"/api/admin/pos-sync/{id}/retry").ToString()), retry5xx: true, ct);
        using var _ = response;
        return (int)response.StatusCode;
    }
}
