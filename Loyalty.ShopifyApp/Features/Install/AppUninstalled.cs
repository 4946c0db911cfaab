using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features.Install;

/// <summary>
/// <c>app/uninstalled</c>: the token is already revoked by Shopify. Mark the shop uninstalled and delete its
/// tokens, so no work runs for it (the processor skips its business deliveries) and a reinstall starts
/// from a clean token state. Loyalty data stays until <c>shop/redact</c>, 48 hours later.
/// A late uninstall that predates the current installation is ignored.
/// </summary>
public sealed partial class AppUninstalled(InstalledShops installed, AccessTokenCache tokens, ILogger<AppUninstalled> logger) : IWebhookHandler
{
    public string Topic => "app/uninstalled";

    public bool RunsForUninstalledShops => true;

    /// <summary>The payload is the shop object; <c>domain</c> is its primary (possibly custom) domain, not the myshopify one.</summary>
    public string? PayloadShopField => "myshopify_domain";

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var d = context.Delivery;
        if (d.TriggeredAt is { } triggered && triggered < context.Shop.InstalledAt)
        {
            LogStale(d.ShopDomain, triggered, context.Shop.InstalledAt);
            return;
        }
        // The shop's token lock first: a refresh in flight (a call's, or the token-refresh job's) stores its new pair before the tokens
        // are deleted here, never after, so a reinstall starts from no token rather than a dead one.
        await AccessTokens.LockShopAsync(context.Connection, context.Transaction, d.ShopDomain, ct);
        await context.Connection.ExecuteAsync(new CommandDefinition("""
            UPDATE shops SET state = 'uninstalled', uninstalled_at = coalesce(@triggered, now()), updated_at = now()
            WHERE shop_domain = @shop;
            DELETE FROM shop_tokens WHERE shop_domain = @shop;
            -- Shopify Flow: workflows are the shop's; a reinstall hears of them again through the lifecycle callback.
            DELETE FROM flow_trigger_usage WHERE shop_domain = @shop;
            UPDATE flow_outbox SET state = 'skipped', last_error = 'the shop uninstalled the app' WHERE shop_domain = @shop AND state = 'pending';
            """, new { shop = d.ShopDomain, triggered = d.TriggeredAt }, context.Transaction, cancellationToken: ct));
        context.AfterCommit.Add(() =>
        {
            installed.Forget(d.ShopDomain);
            tokens.Drop(d.ShopDomain);
        });
        LogUninstalled(d.ShopDomain);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Shop} uninstalled the app; its tokens are deleted and its work stops")]
    private partial void LogUninstalled(string shop);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Ignored an uninstall of {Shop} from {Triggered}: the shop was installed again at {InstalledAt}")]
    private partial void LogStale(string shop, DateTimeOffset triggered, DateTimeOffset installedAt);
}
