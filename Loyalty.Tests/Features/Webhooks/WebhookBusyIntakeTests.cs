using Dapper;
using Npgsql;
using System.Collections.Concurrent;
using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.Tests.Features.Webhooks;

/// <summary>
/// While Shopify's deliveries wait to be stored, the processor leaves the machine to the intake: a claimed batch runs on
/// <c>Webhooks:BusyIntakeParallelism</c> lanes, and on all of <c>Webhooks:Parallelism</c> once the intake is quiet.
/// </summary>
public sealed class WebhookBusyIntakeTests
{
    /// <summary>
    /// Holds each delivery until another of its round is in hand too, or for its round's hold, and counts how many of a round are in
    /// its hands at once. A round expected to overlap is held up to 20 s and ends as soon as the second arrives, so a loaded machine
    /// (the whole suite shares the app's thread pool) only slows it. (The misses once put down to short holds were the held delivery
    /// claimed with a round, which makes the shop's batch one lane: see <see cref="HoldFourAsync"/>.) A round expected alone is held
    /// 5 s, time enough for a second lane to show (a second lane later than that goes unseen), and no longer: the busy round's held
    /// deliveries' INSERT must finish within Npgsql's 30 s command timeout.
    /// </summary>
    private sealed class OverlapHandler : IWebhookHandler
    {
        private readonly ConcurrentDictionary<string, int> _now = new();

        public ConcurrentDictionary<string, int> Most { get; } = new();

        /// <summary>How long a round's delivery waits for another of its round, by round.</summary>
        public ConcurrentDictionary<string, int> HoldMs { get; } = new();

        public string Topic => "test/overlap";

        public bool RunsForUninstalledShops => false;

        public async Task HandleAsync(WebhookContext context, CancellationToken ct)
        {
            var key = context.Delivery.WebhookId[..^2]; // one round: the ids but their last two characters
            var now = _now.AddOrUpdate(key, 1, (_, n) => n + 1);
            Most.AddOrUpdate(key, now, (_, most) => Math.Max(most, now));
            var waiting = System.Diagnostics.Stopwatch.StartNew();
            var hold = HoldMs.GetValueOrDefault(key, 5000);
            while (waiting.ElapsedMilliseconds < hold && _now[key] < 2) await Task.Delay(20, ct);
            Most.AddOrUpdate(key, _now[key], (_, most) => Math.Max(most, _now[key]));
            await Task.Delay(100, ct); // the other sees this one too
            _now.AddOrUpdate(key, 0, (_, n) => n - 1);
        }
    }

    [Fact]
    public async Task While_deliveries_wait_to_be_stored_batches_go_one_lane_at_a_time_for_at_most_the_set_seconds_and_at_full_width_once_stored()
    {
        var (fixture, shop, overlap) = await StartAsync(new()
        {
            ["Webhooks:Parallelism"] = "4",
            ["Webhooks:BusyIntakeParallelism"] = "1",
            ["Webhooks:BusyIntakeMaxSeconds"] = "3",
        });
        await using var __ = fixture;
        var (app, inbox) = (fixture.App, fixture.App.Services.GetRequiredService<WebhookInbox>());

        var (holder, tx, held) = await HoldFourAsync(app, shop);
        await using var _ = holder;
        Assert.Equal("busy: 1", await HandledAtOnceAsync(app, shop, overlap, "busy", expected: 1));

        // Still busy, but for longer than Webhooks:BusyIntakeMaxSeconds: the backlog gets all lanes again.
        await Task.Delay(TimeSpan.FromSeconds(3.5));
        Assert.Equal(4, inbox.Storing);
        Assert.Equal("long: 2", await HandledAtOnceAsync(app, shop, overlap, "long", expected: 2, holdMs: 12_000));

        await tx.RollbackAsync();
        Assert.All(await Task.WhenAll(held), status => Assert.Equal(HttpStatusCode.OK, status));
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(inbox.Storing == 0), "nothing left being stored");
        await app.WaitForDeliveryAsync(shop + "-held", "processed"); // claimed with the round, it would make one lane of the shop's batch
        Assert.Equal("quiet: 2", await HandledAtOnceAsync(app, shop, overlap, "quiet", expected: 2));
    }

    [Fact]
    public async Task The_intake_counts_as_busy_for_the_set_time_after_its_crowd_is_stored_then_batches_get_all_lanes()
    {
        var (fixture, shop, overlap) = await StartAsync(new() { ["Webhooks:BusyIntakeQuietMs"] = "4000" });
        await using var __ = fixture;
        var (app, inbox) = (fixture.App, fixture.App.Services.GetRequiredService<WebhookInbox>());

        var (holder, tx, held) = await HoldFourAsync(app, shop);
        await using var _ = holder;
        await tx.RollbackAsync(); // the crowd is stored at once: between two groups of a burst, the count dips like this
        Assert.All(await Task.WhenAll(held), status => Assert.Equal(HttpStatusCode.OK, status));
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(inbox.Storing == 0), "nothing left being stored");
        await app.WaitForDeliveryAsync(shop + "-held", "processed"); // or the dip's one lane could be the shop-wide lane below
        Assert.Equal("dip: 1", await HandledAtOnceAsync(app, shop, overlap, "dip", expected: 1));

        await Task.Delay(TimeSpan.FromSeconds(4.5));
        Assert.Equal("after: 2", await HandledAtOnceAsync(app, shop, overlap, "after", expected: 2));
    }

    /// <summary>An app whose intake is busy from three deliveries being stored, polling often, with the overlap-counting handler.</summary>
    private static async Task<(AppFixture Fixture, string Shop, OverlapHandler Overlap)> StartAsync(Dictionary<string, string?> settings)
    {
        var overlap = new OverlapHandler();
        var fixture = await AppFixture.StartAsync(new(settings) { ["Webhooks:PollIntervalMs"] = "100", ["Webhooks:BusyIntakeDeliveries"] = "3" },
            services => { RecordingHandler.Register(services); services.AddSingleton<IWebhookHandler>(overlap); });
        return (fixture, await fixture.NewShopAsync(), overlap);
    }

    /// <summary>
    /// Two customers' deliveries stored together, so one claim takes both (two lanes): how many were in hand at once. What the round
    /// is expected to show sets only how long a delivery waits for the other (<see cref="OverlapHandler"/>), not the answer; a round
    /// run while the busy round's INSERT is held passes a shorter hold, so that INSERT stays within Npgsql's 30 s command timeout.
    /// The wait for the first delivery outlasts two holds in one lane, so a wrong lane count fails on the count, not on that wait.
    /// </summary>
    private static async Task<string> HandledAtOnceAsync(LoyaltyApp app, string shop, OverlapHandler overlap, string round, int expected,
        int? holdMs = null)
    {
        var hold = holdMs ?? (expected == 1 ? 5000 : 20_000);
        overlap.HoldMs[$"{shop}-{round}"] = hold;
        await app.ScalarAsync<int>("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload, customer_id)
            VALUES (@prefix || '-1', @shop, 'test/overlap', '2026-10', '{"customer":{"id":1}}', 1),
                   (@prefix || '-2', @shop, 'test/overlap', '2026-10', '{"customer":{"id":2}}', 2)
            """, new { shop, prefix = $"{shop}-{round}" });
        await app.WaitForDeliveryAsync($"{shop}-{round}-1", "processed", timeoutMs: 2 * hold + 10_000);
        await app.WaitForDeliveryAsync($"{shop}-{round}-2", "processed");
        return $"{round}: {overlap.Most[$"{shop}-{round}"]}"; // which round, should one differ
    }

    /// <summary>
    /// Four of Shopify's deliveries wait to be stored: a transaction of the test's holds their webhook id uncommitted. The delivery
    /// names neither customer nor order, so a batch that claims it puts every delivery of its shop into one lane (<see cref="WebhookLanes"/>):
    /// a round is sent only once it is processed.
    /// </summary>
    private static async Task<(NpgsqlConnection Holder, NpgsqlTransaction Tx, List<Task<HttpStatusCode>> Held)> HoldFourAsync(LoyaltyApp app,
        string shop)
    {
        var inbox = app.Services.GetRequiredService<WebhookInbox>();
        var holder = await app.Db.OpenConnectionAsync();
        var tx = await holder.BeginTransactionAsync();
        await holder.ExecuteAsync("""
            INSERT INTO webhook_deliveries (webhook_id, shop_domain, topic, api_version, payload)
            VALUES (@id, @shop, 'test/effect', '2026-10', '{"id":1}')
            """, new { id = shop + "-held", shop }, tx);
        var held = Enumerable.Range(0, 4).Select(async _ =>
        {
            using var response = await app.PostWebhookAsync("test/effect", shop, """{"id":1}""", webhookId: shop + "-held");
            return response.StatusCode;
        }).ToList();
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(inbox.Storing == 4), "four deliveries waiting to be stored");
        return (holder, tx, held);
    }
}
