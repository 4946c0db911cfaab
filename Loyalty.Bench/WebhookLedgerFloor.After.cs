using System.Threading.Channels;
using Npgsql;

namespace Loyalty.Bench;

/// <summary>
/// The ledger floor's second mode (<see cref="WebhookLedgerFloor.AfterIntake"/>): each request answered once its delivery is stored
/// pending, as Loyalty's intake answers, and the stored deliveries awarded from memory, set by set, each in a transaction that marks
/// them processed (fenced on pending) with their orders' records, ledger rows and balances. No claim and no processor: what a
/// design that hands the intake's rows to the award without reading them back costs.
/// </summary>
public static partial class WebhookLedgerFloor
{
    private sealed record StoredDelivery(long Id, Order Order);

    /// <summary>
    /// The intake's INSERT, each row due only in an hour: the awarders have it from memory, and Loyalty's processor, still running in
    /// the app beside this phase, must not claim the floor's rows.
    /// </summary>
    private const string Store = """
        INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id, order_id, next_attempt_at)
        SELECT g.webhook_id, $1, 'orders/paid', '2026-10', g.payload, g.customer_id, g.order_id, now() + interval '1 hour'
        FROM unnest($2::text[], $3::text[], $4::bigint[], $5::bigint[]) AS g(webhook_id, payload, customer_id, order_id) ORDER BY g.webhook_id
        ON CONFLICT (webhook_id) DO NOTHING RETURNING id, webhook_id
        """;

    /// <summary>Awards stored deliveries: only what is still pending, and only if nothing earlier about the customer or order waits.</summary>
    private static readonly string AwardStored = $"""
        WITH grp AS (
            SELECT * FROM unnest($2::bigint[], $3::bigint[], $4::bigint[], $5::numeric[], $6::timestamptz[], $7::text[])
                AS g(delivery_id, order_id, customer_id, amount, paid_at, currency)),
        {ShopChecked}
        {OrdersChecked(" AND w.id < g.delivery_id")}
        fenced AS (
            UPDATE webhook_deliveries d SET status = 'processed', processed_at = now()
            FROM ok WHERE d.id = ok.delivery_id AND d.status = 'pending' RETURNING d.id),
        {Awarded("ok JOIN fenced ON fenced.id = ok.delivery_id", "delivery_id FROM grp WHERE delivery_id NOT IN (SELECT id FROM fenced)")}
        """;

    /// <summary>The intake: what is queued stored by one INSERT and answered after its commit; the new rows handed to the awarders.</summary>
    private static async Task StoreAsync(NpgsqlDataSource db, string shop, ChannelReader<Pending> queue, ChannelWriter<StoredDelivery> stored)
    {
        var group = new List<Pending>();
        while (await queue.WaitToReadAsync())
        {
            while (group.Count < 200 && queue.TryRead(out var next)) group.Add(next);
            group.Sort((a, b) => string.CompareOrdinal(a.WebhookId, b.WebhookId));
            try
            {
                var ids = new Dictionary<string, long>();
                await using (var batch = new NpgsqlBatch(db.CreateConnection()))
                {
                    await batch.Connection!.OpenAsync();
                    batch.BatchCommands.Add(Command(Store, shop, group.Select(p => p.WebhookId).ToArray(), group.Select(p => p.Payload).ToArray(),
                        group.Select(p => p.Order.Customer).ToArray(), group.Select(p => p.Order.Id).ToArray()));
                    await using var reader = await batch.ExecuteReaderAsync();
                    while (await reader.ReadAsync()) ids[reader.GetString(1)] = reader.GetInt64(0);
                    await reader.CloseAsync();
                    await batch.Connection.CloseAsync();
                }
                foreach (var p in group)
                {
                    p.Stored.TrySetResult();
                    if (ids.Remove(p.WebhookId, out var id)) stored.TryWrite(new StoredDelivery(id, p.Order));
                }
            }
            catch (Exception e)
            {
                await Console.Error.WriteLineAsync($"ledger floor: a group of {group.Count} could not be stored: {e.Message}");
                foreach (var p in group) p.Stored.TrySetException(e);
            }
            group.Clear();
        }
    }

    /// <summary>
    /// Sets of stored deliveries (distinct customers, the rest carried to the next set), each in one transaction; a delivery behind an
    /// earlier one of its customer or order still pending (in the other awarder's set) is left and tried again in a later set. Anything
    /// else the checks leave (an order decided, a refund waiting) would be tried again for ever: this generator sends none.
    /// </summary>
    private static async Task AwardStoredAsync(NpgsqlDataSource db, string shop, ChannelReader<StoredDelivery> stored)
    {
        var carried = new List<StoredDelivery>();
        while (carried.Count > 0 || await stored.WaitToReadAsync())
        {
            // each customer's earliest first: a later one is left while it waits
            var set = NextSet(carried, stored, d => d.Order.Customer, (a, b) => a.Id.CompareTo(b.Id));
            // A set that fails is logged (the floor server's log) and its deliveries stay pending, and so do later deliveries of the same
            // customers: the run then ends in VIOLATION once its wait for the awards runs out.
            try
            {
                var left = (await AwardAsync(db, shop, [.. set.Select(d => d.Order)], Command(AwardStored, shop, set.Select(d => d.Id).ToArray(),
                    set.Select(d => d.Order.Id).ToArray(), set.Select(d => d.Order.Customer).ToArray(), set.Select(d => d.Order.Total).ToArray(),
                    set.Select(d => d.Order.PaidAt).ToArray(), set.Select(d => d.Order.Currency).ToArray()), commitLeft: true)).ToHashSet();
                carried.InsertRange(0, set.Where(d => left.Contains(d.Id)));
                if (left.Count == set.Count) await Task.Delay(1); // all behind the other awarder's open set: let it commit
            }
            catch (Exception e)
            {
                await Console.Error.WriteLineAsync($"ledger floor: a set of {set.Count} could not be awarded, left pending: {e.Message}");
            }
        }
    }
}
