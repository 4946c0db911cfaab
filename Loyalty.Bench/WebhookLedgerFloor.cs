using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Dapper;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Npgsql;

namespace Loyalty.Bench;

/// <summary>
/// The award's floor with the app's ledger (<c>webhooks-compare --ledger-floor intake|after|both</c>), in a floor server's process of
/// its own: what an award costs when it keeps what the app keeps but nothing of the app's machinery, measured end to end beside the
/// Node peer and Loyalty. <c>POST /webhooks</c> checks the HMAC and reads the order; deliveries are written into the app's own migrated
/// tables for a shop of their own (<see cref="Shop"/>, a copy of the bench shop's rows, so the phases' rows stay apart), with the
/// checks <c>award-ceiling</c> names (the shop installed, not on the POS, no pending period, tiers, event endpoints or Flow workflows;
/// the order not decided, no refund waiting for it, no tier row of its customer, nothing about the customer or the order waiting in
/// the inbox; the rule in force when it was paid), and awarded set by set (at most 200, distinct customers, the rest carried to the
/// next set): the orders' records, the balances made sure of and locked, the ledger's rows with the balance each leads to (the
/// schema's row check and commit-time sum firing), the balances. <see cref="AtIntake"/>: each group stored already processed and
/// awarded in one transaction, each request answered once it is durable. <see cref="AfterIntake"/>: stored pending and answered first,
/// as Loyalty's intake does, then awarded from memory (WebhookLedgerFloor.After.cs). Statements prepared (Npgsql's automatic
/// preparation) and their plans left to PostgreSQL's default cache, which keeps a generic plan only where it looks no dearer (the app's
/// sessions plan every statement for its values); the triggers' and keys' queries follow the same cache, which the app's migration
/// 0039 avoids for the row check. No processor, lanes, claims, settings reads, events, Flow, logging or middleware; at intake a delivery
/// the checks would leave to a processor fails its group (a 500), so the run reports it rather than waiting for it.
/// </summary>
public static partial class WebhookLedgerFloor
{
    /// <summary>Awarded in the intake's own transaction, each request answered after it (<see cref="WriteAsync"/>).</summary>
    public const string AtIntake = "intake";

    /// <summary>
    /// Stored and answered first, as Loyalty's intake does, then awarded from memory in a transaction of its own
    /// (<see cref="AwardStoredAsync"/>).
    /// </summary>
    public const string AfterIntake = "after";

    /// <summary>The floor's shop in <paramref name="mode"/>: the bench shop's domain with the mode in front.</summary>
    public static string Shop(string mode) => $"floor-{mode}-{BenchEnvironment.Shop}";

    private sealed record Pending(string WebhookId, string Payload, Order Order, TaskCompletionSource Stored);

    private sealed record Order(long Id, long Customer, decimal Total, DateTimeOffset PaidAt, string Currency);

    /// <summary>The floor's shop: the bench shop's rows (the shop, its settings, its rule's history) copied under the floor's domain.</summary>
    public static async Task PrepareShopAsync(BenchEnvironment env, string mode, CancellationToken ct)
    {
        await using var conn = env.Connection();
        await conn.ExecuteAsync(new CommandDefinition("""
            DROP TABLE IF EXISTS floor_shop, floor_settings, floor_rules;
            CREATE TEMP TABLE floor_shop AS SELECT * FROM shops WHERE shop_domain = @shop;
            CREATE TEMP TABLE floor_settings AS SELECT * FROM shop_settings WHERE shop_domain = @shop;
            CREATE TEMP TABLE floor_rules AS SELECT * FROM earn_rule_changes WHERE shop_domain = @shop;
            UPDATE floor_shop SET shop_domain = @floor;
            UPDATE floor_settings SET shop_domain = @floor;
            UPDATE floor_rules SET shop_domain = @floor;
            INSERT INTO shops SELECT * FROM floor_shop;
            INSERT INTO shop_settings SELECT * FROM floor_settings;
            INSERT INTO earn_rule_changes SELECT * FROM floor_rules;
            """, new { shop = BenchEnvironment.Shop, floor = Shop(mode) }, cancellationToken: ct));
    }

    public static void Map(WebApplication app, string connectionString, string secret, string mode)
    {
        var db = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxAutoPrepare = 16, AutoPrepareMinUsages = 2,
        }.ConnectionString).Build();
        var key = System.Text.Encoding.UTF8.GetBytes(secret);
        var queue = Channel.CreateUnbounded<Pending>();
        if (mode == AtIntake)
        {
            for (var writer = 0; writer < 2; writer++) _ = Task.Run(() => WriteAsync(db, Shop(mode), queue.Reader));
        }
        else
        {
            var stored = Channel.CreateUnbounded<StoredDelivery>();
            for (var writer = 0; writer < 2; writer++) _ = Task.Run(() => StoreAsync(db, Shop(mode), queue.Reader, stored.Writer));
            for (var awarder = 0; awarder < 2; awarder++) _ = Task.Run(() => AwardStoredAsync(db, Shop(mode), stored.Reader));
        }

        app.MapPost("/webhooks", async (HttpContext http) =>
        {
            using var body = new MemoryStream();
            await http.Request.Body.CopyToAsync(body, http.RequestAborted);
            var bytes = body.ToArray();
            if (!WebhookFloor.Verified(key, bytes, http.Request.Headers["X-Shopify-Hmac-Sha256"].ToString()))
            {
                return Results.StatusCode(StatusCodes.Status401Unauthorized);
            }
            if (http.Request.Headers["X-Shopify-Topic"] != "orders/paid" || Read(bytes) is not { } order) return Results.BadRequest();
            // the mode in the id: every target is sent the same deliveries, and Loyalty and both floors store them in the same inbox
            var pending = new Pending($"floor-{mode}:{http.Request.Headers["X-Shopify-Webhook-Id"]}", System.Text.Encoding.UTF8.GetString(bytes),
                order, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
            await queue.Writer.WriteAsync(pending, http.RequestAborted);
            await pending.Stored.Task;
            return Results.Ok();
        });
    }

    /// <summary>The paid order a body names (with its customer); null when it is not one (malformed JSON, a guest, no id or total).</summary>
    private static Order? Read(byte[] body)
    {
        try
        {
            using var json = JsonDocument.Parse(body);
            var root = json.RootElement;
            if (!root.TryGetProperty("customer", out var c) || c.ValueKind != JsonValueKind.Object) return null;
            var paid = root.TryGetProperty("processed_at", out var p) && p.ValueKind == JsonValueKind.String
                ? DateTimeOffset.Parse(p.GetString()!, CultureInfo.InvariantCulture).ToUniversalTime()
                : DateTimeOffset.UtcNow;
            return new Order(root.GetProperty("id").GetInt64(), c.GetProperty("id").GetInt64(),
                decimal.Parse(root.GetProperty("total_price").GetString()!, CultureInfo.InvariantCulture), paid,
                root.TryGetProperty("currency", out var cur) ? cur.GetString() ?? "USD" : "USD");
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException or OverflowException
                                       or ArgumentNullException)
        {
            return null;
        }
    }

    /// <summary>
    /// The next set from what was carried and what is queued (at most 400 looked at, in <paramref name="order"/> if given): at most 200,
    /// distinct customers (the ledger's row check reads each customer's balance once; a redelivery has its original's customer, so its
    /// webhook id is distinct too), the rest carried to the next set.
    /// </summary>
    private static List<T> NextSet<T>(List<T> carried, ChannelReader<T> queue, Func<T, long> customer, Comparison<T>? order = null)
    {
        var arrived = new List<T>(carried);
        carried.Clear();
        while (arrived.Count < 400 && queue.TryRead(out var next)) arrived.Add(next);
        if (order is not null) arrived.Sort(order);
        var (set, customers) = (new List<T>(), new HashSet<long>());
        foreach (var item in arrived)
        {
            if (set.Count < 200 && customers.Add(customer(item))) set.Add(item);
            else carried.Add(item);
        }
        return set;
    }

    /// <summary>Groups of what is queued (<see cref="NextSet"/>, in arrival order), each in one transaction, answered after its commit.</summary>
    private static async Task WriteAsync(NpgsqlDataSource db, string shop, ChannelReader<Pending> queue)
    {
        var carried = new List<Pending>();
        while (carried.Count > 0 || await queue.WaitToReadAsync())
        {
            var group = NextSet(carried, queue, p => p.Order.Customer);
            group.Sort((a, b) => string.CompareOrdinal(a.WebhookId, b.WebhookId));
            // Every lock is taken in key order (orders, balances, the inbox's webhook ids), so the two writers cannot deadlock; a group
            // that fails answers each of its requests with a 500, which the run counts as errors.
            try
            {
                await StoreAndAwardAsync(db, shop, group);
                foreach (var p in group) p.Stored.TrySetResult();
            }
            catch (Exception e)
            {
                foreach (var p in group) p.Stored.TrySetException(e);
            }
        }
    }
}
