namespace Loyalty.ShopifyApp.Features.Webhooks;

public sealed record WebhookDelivery(
    long Id,
    string WebhookId,
    string ShopDomain,
    string Topic,
    string? EventId,
    DateTimeOffset? TriggeredAt,
    string? ApiVersion,
    string? Payload,
    long? CustomerId,
    long? OrderId,
    int Attempts);

/// <summary>The shop as it was when the delivery was picked up.</summary>
public sealed record WebhookShop(string State, DateTimeOffset InstalledAt);

/// <summary>
/// What a handler gets: the delivery, and the connection and transaction in which the delivery is marked
/// processed. A handler's database effects commit together with that mark, or not at all.
/// </summary>
public sealed record WebhookContext(WebhookDelivery Delivery, WebhookShop Shop, NpgsqlConnection Connection, NpgsqlTransaction Transaction)
{
    /// <summary>Work to start once the transaction committed (e.g. waking a job for what it queued).</summary>
    public List<Action> AfterCommit { get; } = [];
}

/// <summary>One handler per topic. Handlers must be idempotent on the business key (a delivery can run twice).</summary>
public interface IWebhookHandler
{
    string Topic { get; }

    /// <summary>Compliance topics and the uninstall itself must run for shops that are no longer installed.</summary>
    bool RunsForUninstalledShops { get; }

    /// <summary>
    /// The top-level payload field that names the shop's myshopify domain, when the topic's payload has one. The HMAC
    /// covers the body only, so intake refuses a delivery whose payload does not name the X-Shopify-Shop-Domain shop.
    /// </summary>
    string? PayloadShopField => null;

    Task HandleAsync(WebhookContext context, CancellationToken ct);
}

/// <summary>Retrying will not help (e.g. a payload that cannot be read): park the delivery at once with this reason.</summary>
public sealed class PermanentWebhookFailureException(string reason) : Exception(reason);
