using System.Text.Json.Serialization;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features.Compliance;

/// <summary>The compliance payloads (snake_case, ids as numbers).</summary>
public sealed record CompliancePayload(
    [property: JsonPropertyName("shop_domain")] string? ShopDomain,
    [property: JsonPropertyName("customer")] ComplianceCustomer? Customer,
    [property: JsonPropertyName("orders_requested")] long[]? OrdersRequested,
    [property: JsonPropertyName("orders_to_redact")] long[]? OrdersToRedact,
    [property: JsonPropertyName("data_request")] ComplianceDataRequest? DataRequest);

public sealed record ComplianceCustomer([property: JsonPropertyName("id")] long Id);

public sealed record ComplianceDataRequest([property: JsonPropertyName("id")] long Id);

internal static class Compliance
{
    public static CompliancePayload Read(WebhookDelivery d) =>
        JsonSerializer.Deserialize<CompliancePayload>(d.Payload!) ?? throw new PermanentWebhookFailureException("Empty compliance payload.");

    /// <summary>Records that the request was carried out and clears the request's own payload (it carries e-mail and phone).</summary>
    public static Task CompleteAsync(WebhookContext context, object summary, CancellationToken ct) =>
        context.Connection.ExecuteAsync(new CommandDefinition("""
            INSERT INTO compliance_log (shop_domain, topic, webhook_id, summary) VALUES (@shop, @topic, @webhookId, @summary::jsonb)
            ON CONFLICT (webhook_id) DO NOTHING;
            UPDATE webhook_deliveries SET payload = NULL, payload_cleared_at = now() WHERE id = @id;
            """, new
        {
            shop = context.Delivery.ShopDomain,
            topic = context.Delivery.Topic,
            webhookId = context.Delivery.WebhookId,
            summary = JsonSerializer.Serialize(summary),
            id = context.Delivery.Id,
        }, context.Transaction, cancellationToken: ct));
}

/// <summary><c>customers/data_request</c>: produce the export; the merchant fetches it from the admin API.</summary>
public sealed partial class CustomerDataRequested(ILogger<CustomerDataRequested> logger) : IWebhookHandler
{
    public string Topic => "customers/data_request";

    public bool RunsForUninstalledShops => true;

    public string? PayloadShopField => "shop_domain";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var payload = Compliance.Read(context.Delivery);
        var customerId = payload.Customer?.Id ?? throw new PermanentWebhookFailureException("The data request names no customer.");
        var orders = payload.OrdersRequested ?? [];
        var shop = context.Delivery.ShopDomain;

        var export = await CustomerData.ExportAsync(context.Connection, context.Transaction, shop, customerId, orders, ct);
        var exportId = await context.Connection.QuerySingleAsync<long>(new CommandDefinition("""
            INSERT INTO customer_data_exports (shop_domain, customer_id, data_request_id, export)
            VALUES (@shop, @customerId, @requestId, @export::jsonb)
            ON CONFLICT (shop_domain, data_request_id) DO UPDATE SET export = excluded.export, created_at = now()
            RETURNING id
            """, new { shop, customerId, requestId = payload.DataRequest?.Id, export = export.ToJsonString() }, context.Transaction,
                cancellationToken: ct));
        await Compliance.CompleteAsync(context, new { exportId }, ct);
        LogExported(shop, exportId);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Produced customer data export {ExportId} for {Shop}")]
    private partial void LogExported(string shop, long exportId);
}

/// <summary><c>customers/redact</c>: erase the customer's personal data.</summary>
public sealed partial class CustomerRedacted(ILogger<CustomerRedacted> logger) : IWebhookHandler
{
    public string Topic => "customers/redact";

    public bool RunsForUninstalledShops => true;

    public string? PayloadShopField => "shop_domain";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var payload = Compliance.Read(context.Delivery);
        var customerId = payload.Customer?.Id ?? throw new PermanentWebhookFailureException("The redaction names no customer.");
        var summary = await CustomerData.EraseAsync(context.Connection, context.Transaction, context.Delivery.ShopDomain,
            customerId, payload.OrdersToRedact ?? [], ct);
        await Compliance.CompleteAsync(context, summary, ct);
        LogRedacted(context.Delivery.ShopDomain, string.Join(", ", summary.Select(kv => $"{kv.Key}={kv.Value}")));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Redacted a customer of {Shop}: {Summary}")]
    private partial void LogRedacted(string shop, string summary);
}

/// <summary>
/// <c>shop/redact</c> (48 h after uninstall): erase everything of the shop. Every shop table cascades from
/// <c>shops</c>, so deleting that row erases the rest, this delivery included; only the compliance log
/// entry remains. A shop that is installed when the request is handled is left alone.
/// </summary>
public sealed partial class ShopRedacted(ILogger<ShopRedacted> logger) : IWebhookHandler
{
    public string Topic => "shop/redact";

    public bool RunsForUninstalledShops => true;

    public string? PayloadShopField => "shop_domain";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var d = context.Delivery;
        // Shopify sends shop/redact 48 h after an uninstall; a shop that is installed now came back, and
        // erasing a live shop's data would destroy its merchants' customers' points.
        if (context.Shop.State == "installed")
        {
            await Compliance.CompleteAsync(context, new { erased = false, reason = "shop installed again" }, ct);
            LogKept(d.ShopDomain);
            return;
        }
        await Compliance.CompleteAsync(context, new { erased = true }, ct);
        await context.Connection.ExecuteAsync(new CommandDefinition("""
            SET LOCAL loyalty.erasure = 'on';
            DELETE FROM oauth_states WHERE shop_domain = @shop;
            DELETE FROM shops WHERE shop_domain = @shop;
            """, new { shop = d.ShopDomain }, context.Transaction, cancellationToken: ct));
        LogErased(d.ShopDomain);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Erased all data of {Shop} (shop/redact)")]
    private partial void LogErased(string shop);

    [LoggerMessage(Level = LogLevel.Warning, Message = "shop/redact for {Shop} ignored: the shop installed the app again")]
    private partial void LogKept(string shop);
}
