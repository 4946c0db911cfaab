using Loyalty.Pos;
using Loyalty.Tests.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using WireMock.Server;

namespace Loyalty.Tests.Pos;

/// <summary>
/// A slow database behind the shared circuit board costs POS calls at most the first second of each read, not a second each while it
/// is slow; it is said once a read, not once a call; and it cannot take more than a few of the database's connections at once. The
/// board's memory runs on a fake clock (the POS calls and their circuits on the real one), so a second passes when the test says.
/// </summary>
public sealed class SlowCircuitBoardTests : IDisposable
{
    private readonly WireMockServer _pos = WireMockServer.Start();
    private readonly SlowBoard _board = new();
    private readonly FakeTimeProvider _clock = new();
    private readonly CapturedLogs _logs = new();

    public SlowCircuitBoardTests() => _pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet())
        .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 40 }));

    public void Dispose()
    {
        _board.Answer();
        _pos.Stop();
    }

    [Fact]
    public async Task Calls_wait_for_a_slow_board_read_only_in_its_first_second_and_it_is_logged_once_not_once_a_call()
    {
        await using var services = Services();
        var pos = services.GetRequiredService<PosClient>();
        var connection = Connection("pos-key", "cool-shop.myshopify.com");

        var first = Enumerable.Range(0, 3).Select(_ => pos.GetBalanceAsync(connection, "777", default)).ToArray();
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(_board.Reads == 1), "the board read begun");
        Assert.DoesNotContain(first, c => c.IsCompleted); // the read is young: the calls wait for it
        Assert.All(await PassTimeUntilDoneAsync(first), b => Assert.IsType<PosBalance.Found>(b));
        // The read is a second old and still not answered: the next calls go on at once, without the clock moving on.
        for (var i = 0; i < 4; i++)
        {
            Assert.IsType<PosBalance.Found>(await pos.GetBalanceAsync(connection, "777", default).WaitAsync(TimeSpan.FromSeconds(5)));
        }

        await _pos.SettledAsync(7);
        Assert.Equal(7, _pos.LogEntries.Count);
        Assert.Equal(1, _board.Reads);
        Assert.Single(_logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("did not answer within", StringComparison.Ordinal));
    }

    [Fact]
    public async Task At_most_a_few_board_reads_are_in_flight_at_once_whatever_the_number_of_POS_connections()
    {
        await using var services = Services();
        var pos = services.GetRequiredService<PosClient>();

        var calls = Enumerable.Range(0, 12)
            .Select(i => pos.GetBalanceAsync(Connection($"key-{i}", $"shop-{i}.myshopify.com"), "777", default)).ToArray();
        var balances = await PassTimeUntilDoneAsync(calls);

        Assert.All(balances, b => Assert.IsType<PosBalance.Found>(b));
        Assert.Equal(8, _board.MostInFlight);
        _board.Answer(); // the queued reads follow
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(_board.Reads == 12), "every connection's read");
        Assert.Equal(8, _board.MostInFlight);
    }

    private ServiceProvider Services() => new ServiceCollection().AddLogging(l => l.AddProvider(_logs))
        .AddSingleton<IPosCircuitBoard>(_board).AddSingleton<TimeProvider>(_clock)
        .AddPosClient(o => o.AllowPrivateNetworks = true).Services.BuildServiceProvider();

    private PosConnection Connection(string apiKey, string shop) =>
        new(new Uri(_pos.Url!), apiKey, new PosCircuitKey(shop, "0123456789abcdef"));

    /// <summary>Moves the board's clock on until <paramref name="calls"/> are done: each waits for its read a second at most.</summary>
    private async Task<PosBalance[]> PassTimeUntilDoneAsync(params Task<PosBalance>[] calls)
    {
        var all = Task.WhenAll(calls);
        for (var i = 0; i < 100 && !all.IsCompleted; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(0.25));
            await Task.Delay(20);
        }
        return await all.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
