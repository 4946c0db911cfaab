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
public sealed record WebhookContext(WebhookDelivery Delivery, WebhookShop Shop, NpgsqlConnection Connection, NpgsqlTransaction Transaction,
    WebhookShopReads Reads)
{
    /// <summary>Work to start once the transaction committed (e.g. waking a job for what it queued).</summary>
    public List<Action> AfterCommit { get; } = [];

    /// <summary>The shop's settings as this transaction first read them.</summary>
    public Task<ShopSettings> SettingsAsync(CancellationToken ct) => Reads.SettingsAsync(Connection, Transaction, Delivery.ShopDomain, ct);
}

/// <summary>
/// Each shop's row and settings, read once per transaction and shared by the deliveries it handles, instead of twice per
/// delivery. No handler that shares a transaction changes them: the uninstall, which does, always runs in one of its own.
/// The settings are read under the shop's balance-source lock, taken shared until the transaction ends: a merchant's switch
/// of the balance source (which takes it exclusively) waits for the awards made under the old source to commit, so none is
/// posted (or left out of the POS queue) by a source that is no longer the shop's.
/// </summary>
public sealed class WebhookShopReads
{
    private readonly Dictionary<string, WebhookShop?> _shops = [];
    private readonly Dictionary<string, ShopSettings> _settings = [];

    public async Task<WebhookShop?> ShopAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct)
    {
        if (!_shops.TryGetValue(shop, out var row))
        {
            row = await conn.QuerySingleOrDefaultAsync<WebhookShop>(new CommandDefinition(
                "SELECT state, installed_at FROM shops WHERE shop_domain = @shop", new { shop }, tx, cancellationToken: ct));
            _shops[shop] = row;
        }
        return row;
    }

    public async Task<ShopSettings> SettingsAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string shop, CancellationToken ct)
    {
        if (!_settings.TryGetValue(shop, out var settings))
        {
            await conn.ExecuteAsync(new CommandDefinition("SELECT pg_advisory_xact_lock_shared(hashtextextended(@key, 0))",
                new { key = SettingsEndpoints.BalanceSourceLock(shop) }, tx, cancellationToken: ct));
            settings = await ShopSettings.LoadAsync(conn, tx, shop, ct);
            _settings[shop] = settings;
        }
        return settings;
    }

    /// <summary>Forgets the settings read: what read them was undone (a savepoint rolled back), and the lock taken with them may be gone.</summary>
    public void ForgetSettings() => _settings.Clear();
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

/// <summary>
/// A handler that can also take many deliveries of its topic at once, set-based, in the transaction they share
/// (<see cref="WebhookOptions.SetHandling"/>): consecutive deliveries of one shop, each naming a customer and an order, no
/// customer or order twice. What it does not pass to <see cref="WebhookSet.FenceAsync"/> is handled one by one right after.
/// </summary>
public interface IWebhookSetHandler : IWebhookHandler
{
    /// <summary>
    /// Handles the set: picks (before writing anything) the deliveries it can handle together, fences them, and handles every one
    /// the fence gives back. A failure undoes the whole set (a savepoint), whose deliveries then go one by one.
    /// </summary>
    Task HandleSetAsync(WebhookSet set, CancellationToken ct);
}

/// <summary>A set of deliveries for <see cref="IWebhookSetHandler"/>, in their transaction.</summary>
/// <param name="FenceAsync">
/// Marks the deliveries given processed, each fenced by its attempt as one alone is, and answers the contexts of those still this
/// worker's (the others were taken over: leave them). Called at most once.
/// </param>
public sealed record WebhookSet(IReadOnlyList<WebhookDelivery> Deliveries, WebhookShop Shop, NpgsqlConnection Connection,
    NpgsqlTransaction Transaction, WebhookShopReads Reads,
    Func<IReadOnlyList<WebhookDelivery>, CancellationToken, Task<IReadOnlyList<WebhookContext>>> FenceAsync)
{
    public string ShopDomain => Deliveries[0].ShopDomain;

    /// <summary>The shop's settings as this transaction first read them.</summary>
    public Task<ShopSettings> SettingsAsync(CancellationToken ct) => Reads.SettingsAsync(Connection, Transaction, ShopDomain, ct);
}

/// <summary>Retrying will not help (e.g. a payload that cannot be read): park the delivery at once with this reason.</summary>
public sealed class PermanentWebhookFailureException(string reason) : Exception(reason);
