using Dapper;
using WireMock.Server;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>The app POS sync runs on: POS URLs on this machine allowed, short timeouts and retry delays, jobs polled often.</summary>
public class PosSyncApp : AppFixture
{
    public PosSyncApp()
        : this(null)
    {
    }

    /// <param name="more">Settings added to (or changed in) the ones below.</param>
    protected PosSyncApp(Dictionary<string, string?>? more)
        : base(new Dictionary<string, string?>
        {
            ["Settings:AllowInsecurePosUrls"] = "true",
            ["Pos:AllowPrivateNetworks"] = "true",
            ["Pos:AttemptTimeoutSeconds"] = "0.5",
            ["Pos:TotalTimeoutSeconds"] = "3",
            ["Pos:RetryBaseDelayMs"] = "20",
            ["PosSync:RetryBaseDelaySeconds"] = "0.1",
            ["PosSync:MaxRetryDelaySeconds"] = "0.3",
            ["Jobs:QueuePollIntervalMs"] = "100",
            ["Jobs:SchedulePollIntervalMs"] = "100",
        }.Concat(more ?? []).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value))
    {
    }
}

/// <summary>A new shop whose balance lives in a POS of the test's own (<see cref="Pos"/>), on the class's app.</summary>
public abstract class PosSyncTestBase<TFixture>(TFixture fixture) : AppTests<TFixture>(fixture) where TFixture : PosSyncApp
{
    protected WireMockServer Pos { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Pos = Fixture.NewServer();
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = "pos-key" })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>The references POSTed to the POS as <paramref name="kind"/> (additions, deductions), in the order its journal holds them.</summary>
    protected IReadOnlyList<string> References(string kind) => Pos.LogEntries
        .Where(e => e.RequestMessage!.Path.EndsWith("/points/" + kind, StringComparison.Ordinal) && e.RequestMessage.Method == "POST")
        .Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement.GetProperty("reference").GetString()!)
        .ToList();

    protected Task<string?> StateAsync(string reference) => App.ScalarAsync<string>(
        "SELECT state FROM pos_outbox WHERE shop_domain = @shop AND reference = @reference", new { shop = Shop, reference });

    protected async Task WaitForStateAsync(string reference, string state, int timeoutMs = 20000)
    {
        try
        {
            await LoyaltyApp.WaitUntilAsync(async () => await StateAsync(reference) == state, $"{reference} {state}", timeoutMs);
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; {await DiagnosticsAsync()}");
        }
    }

    /// <summary>What a timed-out wait reports: the shop's outbox, Hangfire's jobs, queue, servers and locks, and the app's latest log
    /// lines.</summary>
    protected async Task<string> DiagnosticsAsync()
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        var rows = await conn.QueryAsync<string>(
            "SELECT reference || ' ' || state || ' attempts=' || attempts || ' due=' || next_attempt_at || ' err=' || coalesce(last_error, '') " +
                "FROM pos_outbox WHERE shop_domain = @shop ORDER BY id", new { shop = Shop });
        var jobs = await conn.QueryAsync<string>(
            "SELECT jobid || ':' || name || '@' || to_char(createdat, 'MI:SS.MS') || coalesce(' ' || (data::jsonb ->> 'EnqueueAt'), '') FROM " +
                "hangfire.state ORDER BY id DESC LIMIT 30");
        var queue = await conn.QueryAsync<string>(
            "SELECT jobid || ':' || queue || ':' || coalesce(to_char(fetchedat, 'MI:SS.MS'), 'unfetched') FROM hangfire.jobqueue ORDER BY id");
        var servers = await conn.QueryAsync<string>("SELECT id || '@' || to_char(lastheartbeat, 'MI:SS.MS') FROM hangfire.server");
        var locks = await conn.QueryAsync<string>("SELECT resource || '@' || to_char(acquired, 'MI:SS.MS') FROM hangfire.lock");
        return $"outbox: {string.Join(" | ", rows)}; now={DateTime.UtcNow:O}; POS calls: {Pos.LogEntries.Count}; jobs (latest first): " +
            $"{string.Join(", ", jobs)}; " +
               $"queue: {string.Join(", ", queue)}; servers: {string.Join(", ", servers)}; locks: {string.Join(", ", locks)}{Environment.NewLine}" +
               $"app log:{Environment.NewLine}{App.Log.Tail(60)}";
    }
}
