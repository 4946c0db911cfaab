namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>Deliveries handled as a set (<see cref="IWebhookSetHandler"/>) inside a chunk's transaction.</summary>
public sealed partial class WebhookProcessor
{
    /// <summary>
    /// Whether the delivery's topic has a set handler and sets are on: only then is a set looked for.
    /// </summary>
    private bool MaySet(WebhookDelivery delivery) =>
        options.Value.SetHandling && _handlers.TryGetValue(delivery.Topic, out var handler) && handler is IWebhookSetHandler;

    /// <summary>
    /// The deliveries from <paramref name="start"/> that can go to a set handler together: consecutive, one topic and one installed
    /// shop, each naming a customer and an order, none repeating a customer or an order, none in a lane held back. Fewer than two:
    /// none. Only what is about one customer or one order must keep its order (<see cref="WebhookLanes"/>): the set's members are
    /// about none in common, and nothing before or after the set moves across it.
    /// </summary>
    private List<WebhookDelivery> SetAt(WebhookDelivery[] chunk, int start, WebhookShop? shop, Dictionary<long, int> laneOf, HashSet<int> heldLanes)
    {
        var first = chunk[start];
        if (shop is null || SkipReason(first, shop, out var handler) is not null || handler is not IWebhookSetHandler) return [];
        var (customers, orders) = (new HashSet<long>(), new HashSet<long>());
        var set = new List<WebhookDelivery>();
        for (var i = start; i < chunk.Length; i++)
        {
            var d = chunk[i];
            if (d.Topic != first.Topic || d.ShopDomain != first.ShopDomain || d.Payload is null || heldLanes.Contains(laneOf[d.Id])
                || d.CustomerId is not { } customer || d.OrderId is not { } order || !customers.Add(customer) || !orders.Add(order))
            {
                break;
            }
            set.Add(d);
        }
        return set.Count >= 2 ? set : [];
    }

    /// <summary>
    /// A set in the chunk's transaction, after <paramref name="beforeSet"/> (its savepoint): what the handler fenced and handled, and
    /// what it left to be handled one by one, in order. A failure propagates, for the caller to roll the savepoint back.
    /// </summary>
    private async Task<(List<Handled> Handled, List<WebhookDelivery> Left)> HandleSetInAsync(NpgsqlConnection conn, NpgsqlTransaction tx,
        List<WebhookDelivery> set, WebhookShop shop, WebhookShopReads reads, string beforeSet, CancellationToken ct)
    {
        await conn.ExecuteAsync(new CommandDefinition(beforeSet, transaction: tx, cancellationToken: ct));
        var handled = new List<Handled>();
        var fenced = new HashSet<long>();
        var called = false;
        await ((IWebhookSetHandler)_handlers[set[0].Topic]).HandleSetAsync(new WebhookSet(set, shop, conn, tx, reads, FenceAsync), ct);
        var ours = handled.Count(h => h.Owned);
        if (fenced.Count > 0) LogSetHandled(ours, set[0].Topic, set[0].ShopDomain, set.Count - fenced.Count, fenced.Count - ours);
        return (handled, [.. set.Where(d => !fenced.Contains(d.Id))]);

        async Task<IReadOnlyList<WebhookContext>> FenceAsync(IReadOnlyList<WebhookDelivery> take, CancellationToken token)
        {
            if (called) throw new InvalidOperationException("A set is fenced once.");
            called = true;
            if (take.Any(d => !set.Contains(d))) throw new ArgumentException("Only the set's deliveries can be fenced.", nameof(take));
            // As the fence of one (HandleInAsync), for all at once; found by key (= ANY), whatever join the planner picks, so a
            // fence reads its own deliveries, not every delivery pending or under way.
            var owned = (await conn.QueryAsync<long>(new CommandDefinition("""
                UPDATE webhook_deliveries d SET status = 'processed', processed_at = now(), locked_until = NULL, last_error = NULL
                FROM unnest(@ids, @attempts) AS f(id, attempts)
                WHERE d.id = ANY(@ids) AND d.id = f.id AND d.status = 'processing' AND d.attempts = f.attempts
                RETURNING d.id
                """, new { ids = take.Select(d => d.Id).ToArray(), attempts = take.Select(d => d.Attempts).ToArray() }, tx,
                cancellationToken: token))).ToHashSet();
            var contexts = new List<WebhookContext>();
            foreach (var d in take)
            {
                fenced.Add(d.Id);
                if (!owned.Contains(d.Id))
                {
                    handled.Add(new Handled(d, false, null, null));
                    continue;
                }
                var context = new WebhookContext(d, shop, conn, tx, reads);
                handled.Add(new Handled(d, true, null, context));
                contexts.Add(context);
            }
            return contexts;
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Handled {Count} {Topic} deliveries for {Shop} as one set; {Left} left to be handled one by one, {TakenOver} taken over")]
    private partial void LogSetHandled(int count, string topic, string shop, int left, int takenOver);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "A set of {Count} {Topic} deliveries for {Shop} failed as a whole (undone); handling each on its own")]
    private partial void LogSetFailed(Exception e, int count, string topic, string shop);
}
