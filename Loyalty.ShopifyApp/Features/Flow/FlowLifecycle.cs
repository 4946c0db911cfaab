using System.Text.Json.Serialization;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features.Flow;

/// <summary>
/// <c>POST /flow/lifecycle</c>: Shopify Flow's trigger lifecycle callback (extension <c>loyalty-flow-lifecycle</c>). Shopify calls
/// it, signed with the app's secret like a webhook, when a merchant turns on or off a workflow using one of the app's triggers,
/// with <c>{ flow_trigger_definition_id, has_enabled_flow, shop_id, shopify_domain, timestamp }</c>; the app then sends that
/// trigger to that shop, or stops. The newest callback per shop and trigger wins (<c>timestamp</c>), and the answer is at once
/// (Shopify waits 5 seconds, or the merchant cannot turn the workflow on).
/// </summary>
public static partial class FlowLifecycle
{
    private const int MaxBodyBytes = 16 * 1024;

    public sealed record Callback(
        [property: JsonPropertyName("flow_trigger_definition_id")] string? TriggerId,
        [property: JsonPropertyName("has_enabled_flow")] bool? HasEnabledFlow,
        [property: JsonPropertyName("shopify_domain")] string? ShopifyDomain,
        [property: JsonPropertyName("timestamp")] DateTimeOffset? Timestamp);

    public static IEndpointRouteBuilder MapFlowLifecycle(this IEndpointRouteBuilder app)
    {
        app.MapPost("/flow/lifecycle", ReceiveAsync)
            .ProblemCodes(StatusCodes.Status400BadRequest, "invalid_lifecycle_callback")
            .ProblemCodes(StatusCodes.Status401Unauthorized, "invalid_flow_hmac")
            .ProblemCodes(StatusCodes.Status413PayloadTooLarge, "payload_too_large");
        return app;
    }

    private static async Task<Results<Ok, ProblemHttpResult>> ReceiveAsync(HttpContext http, NpgsqlDataSource db,
        IOptions<ShopifyOptions> shopify, ILoggerFactory loggers, CancellationToken ct)
    {
        var log = loggers.CreateLogger(typeof(FlowLifecycle));
        var body = http.Request.ContentLength > MaxBodyBytes ? null : await WebhookIntake.ReadBodyAsync(http.Request, MaxBodyBytes, ct);
        if (body is null)
        {
            return Problems.Create(StatusCodes.Status413PayloadTooLarge, "payload_too_large", $"Flow callbacks are limited to {MaxBodyBytes} bytes.");
        }
        if (!ShopifySignatures.IsValidWebhook(body, http.Request.Headers["X-Shopify-Hmac-SHA256"], shopify.Value.Secrets()))
        {
            LogRejected(log, "HMAC missing or wrong");
            return Problems.Unauthorized("invalid_flow_hmac", "The callback's HMAC does not match.");
        }
        Callback? c;
        try
        {
            c = JsonSerializer.Deserialize<Callback>(body);
        }
        catch (JsonException)
        {
            c = null;
        }
        if (c is not { TriggerId.Length: > 0 and <= 200, HasEnabledFlow: { } enabled, Timestamp: { } stamped }
            || c.TriggerId.Any(char.IsControl) || !ShopDomain.TryNormalize(c.ShopifyDomain, out var shop))
        {
            LogRejected(log, "not a lifecycle callback");
            return Problems.BadRequest("invalid_lifecycle_callback",
                "flow_trigger_definition_id, has_enabled_flow, shopify_domain and timestamp are required.");
        }
        var at = stamped.ToUniversalTime(); // Npgsql writes timestamptz from UTC only
        await using var conn = await db.OpenConnectionAsync(ct);
        var kept = await conn.ExecuteAsync(new CommandDefinition("""
            INSERT INTO flow_trigger_usage (shop_domain, trigger, enabled, changed_at)
            SELECT shop_domain, @trigger, @enabled, @at FROM shops WHERE shop_domain = @shop AND state = 'installed'
            ON CONFLICT (shop_domain, trigger) DO UPDATE SET enabled = excluded.enabled, changed_at = excluded.changed_at, received_at = now()
            WHERE flow_trigger_usage.changed_at < excluded.changed_at
            """, new { shop, trigger = c.TriggerId, enabled, at }, cancellationToken: ct));
        if (!FlowTrigger.All.Any(t => t.Handle == c.TriggerId || t.Title == c.TriggerId)) LogUnknown(log, shop, c.TriggerId);
        if (kept == 1) LogChanged(log, shop, c.TriggerId, enabled);
        else LogIgnored(log, shop, c.TriggerId, enabled);
        return TypedResults.Ok();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Flow lifecycle callback refused: {Reason}")]
    private static partial void LogRejected(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Flow lifecycle callback of {Shop} names {Trigger}, neither a handle nor a title of a trigger of the app: none is sent")]
    private static partial void LogUnknown(ILogger logger, string shop, string trigger);

    [LoggerMessage(Level = LogLevel.Information, Message = "Flow trigger {Trigger} of {Shop}: a workflow uses it: {Enabled}")]
    private static partial void LogChanged(ILogger logger, string shop, string trigger, bool enabled);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Flow lifecycle callback for {Trigger} of {Shop} (enabled: {Enabled}) ignored: the shop is not installed, or a newer one came")]
    private static partial void LogIgnored(ILogger logger, string shop, string trigger, bool enabled);
}
