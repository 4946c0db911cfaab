using Loyalty.Pos;
using Loyalty.Tests.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using WireMock.Server;

namespace Loyalty.Tests.Pos;

/// <summary>
/// The shared circuit board is a help, never a new way for a POS call to fail: a board that cannot be read or written leaves every
/// call as this instance's own circuit would have it, and says so in the log.
/// </summary>
public sealed class PosCircuitBoardTests : IDisposable
{
    private readonly WireMockServer _pos = WireMockServer.Start();

    public void Dispose() => _pos.Stop();

    [Fact]
    public async Task An_open_circuit_dropped_past_MaxCircuits_still_holds_its_POS_back_through_the_board()
    {
        var board = new MemoryBoard();
        await using var services = TwoFailureClient(new ServiceCollection().AddLogging().AddSingleton<IPosCircuitBoard>(board),
            o => { o.CircuitBreakSeconds = 60; o.MaxCircuits = 1; });
        var pos = services.GetRequiredService<PosClient>();
        var key = new PosCircuitKey("cool-shop.myshopify.com", "0123456789abcdef");
        var failing = new PosConnection(new Uri(_pos.Url!), "shop-a-key", key);
        _pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet()).RespondWith(Response.Create().WithStatusCode(500));
        for (var i = 0; i < 2; i++) await pos.GetBalanceAsync(failing, "777", default); // opens shop A's circuit
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(board.Holds(key)), "the break on the board");

        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "shop-b-key"), "777", default); // drops shop A's pipeline
        await _pos.SettledAsync();
        var calls = _pos.LogEntries.Count;
        var again = await pos.GetBalanceAsync(failing, "777", default);

        Assert.Equal(OutboundFailure.CircuitOpen, Assert.IsType<PosBalance.Unavailable>(again).Reason);
        await _pos.SettledAsync();
        Assert.Equal(calls, _pos.LogEntries.Count);
        Assert.Equal(1, services.GetRequiredService<PosPipelines>().Count);
    }

    [Fact]
    public async Task A_probe_whose_answer_is_too_long_to_read_leaves_the_shared_break_and_this_instance_still_fails_fast()
    {
        var board = new MemoryBoard();
        await using var services = TwoFailureClient(new ServiceCollection().AddLogging().AddSingleton<IPosCircuitBoard>(board),
            o => { o.CircuitBreakSeconds = 0.5; o.SharedCircuitRefreshSeconds = 0.1; o.MaxResponseBytes = 1024; });
        var pos = services.GetRequiredService<PosClient>();
        var key = new PosCircuitKey("cool-shop.myshopify.com", "0123456789abcdef");
        var connection = new PosConnection(new Uri(_pos.Url!), "pos-key", key);
        var balance = Request.Create().WithPath("/customers/777/points").UsingGet();
        _pos.Given(balance).RespondWith(Response.Create().WithStatusCode(500));
        for (var i = 0; i < 2; i++) await pos.GetBalanceAsync(connection, "777", default); // opens this instance's circuit
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(board.Holds(key)), "the break on the board");
        await board.OpenedAsync(key, TimeSpan.FromHours(1), default); // another instance's longer break
        _pos.ResetMappings();
        _pos.Given(balance).RespondWith(Response.Create().WithStatusCode(200).WithBody(new string(' ', 4096)));
        await Task.Delay(TimeSpan.FromSeconds(0.7)); // past this instance's break: the next call is the probe

        var probe = await pos.GetBalanceAsync(connection, "777", default);
        Assert.StartsWith(OutboundFailure.TooLarge(1024), Assert.IsType<PosBalance.Unavailable>(probe).Reason, StringComparison.Ordinal);
        await Task.Delay(TimeSpan.FromSeconds(0.3)); // a deletion of the break would have been written by now
        var again = await pos.GetBalanceAsync(connection, "777", default);

        Assert.True(board.Holds(key));
        Assert.Equal(OutboundFailure.CircuitOpen, Assert.IsType<PosBalance.Unavailable>(again).Reason);
        await _pos.SettledAsync(3);
        Assert.Equal(3, _pos.LogEntries.Count); // two failures and the probe
    }

    [Theory]
    [InlineData(0.05)]
    [InlineData(61)]
    public async Task A_refresh_interval_out_of_range_is_refused_naming_the_setting(double seconds)
    {
        await using var services = new ServiceCollection().AddLogging()
            .AddPosClient(o => o.SharedCircuitRefreshSeconds = seconds).Services.BuildServiceProvider();

        var error = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(
            () => services.GetRequiredService<Microsoft.Extensions.Options.IOptions<PosClientOptions>>().Value);

        Assert.Contains("Pos:SharedCircuitRefreshSeconds must be between 0.1 and 60.", error.Failures);
    }

    [Fact]
    public async Task The_board_is_asked_once_per_refresh_interval_not_on_every_call()
    {
        var board = new CountingBoard();
        var clock = new FakeTimeProvider(); // the interval passes when the test says so, however slow the calls
        await using var services = new ServiceCollection().AddLogging().AddSingleton<IPosCircuitBoard>(board).AddSingleton<TimeProvider>(clock)
            .AddPosClient(o =>
            {
                o.AllowPrivateNetworks = true;
                o.SharedCircuitRefreshSeconds = 1;
            }).Services.BuildServiceProvider();
        var pos = services.GetRequiredService<PosClient>();
        var connection = new PosConnection(new Uri(_pos.Url!), "pos-key", new PosCircuitKey("cool-shop.myshopify.com", "0123456789abcdef"));
        _pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 40 }));

        for (var i = 0; i < 10; i++) Assert.IsType<PosBalance.Found>(await pos.GetBalanceAsync(connection, "777", default));
        Assert.Equal(1, board.Reads);
        await _pos.SettledAsync(10);
        Assert.Equal(10, _pos.LogEntries.Count);

        clock.Advance(TimeSpan.FromSeconds(0.9));
        await pos.GetBalanceAsync(connection, "777", default);
        Assert.Equal(1, board.Reads);

        clock.Advance(TimeSpan.FromSeconds(0.1));
        await pos.GetBalanceAsync(connection, "777", default);
        Assert.Equal(2, board.Reads);
    }

    [Fact]
    public async Task A_board_that_cannot_be_read_or_written_fails_no_POS_call_and_is_logged()
    {
        var logs = new CapturedLogs();
        await using var services = TwoFailureClient(new ServiceCollection().AddLogging(l => l.AddProvider(logs))
            .AddSingleton<IPosCircuitBoard, BrokenBoard>(), o => o.CircuitBreakSeconds = 0.5);
        var pos = services.GetRequiredService<PosClient>();
        var connection = new PosConnection(new Uri(_pos.Url!), "pos-key", new PosCircuitKey("cool-shop.myshopify.com", "0123456789abcdef"));
        var balance = Request.Create().WithPath("/customers/777/points").UsingGet();
        _pos.Given(balance).RespondWith(Response.Create().WithStatusCode(500));

        for (var i = 0; i < 3; i++) Assert.IsType<PosBalance.Unavailable>(await pos.GetBalanceAsync(connection, "777", default));
        await _pos.SettledAsync(2);
        Assert.Equal(2, _pos.LogEntries.Count); // the unread board changed nothing: two failures reached the POS, and opened the circuit
        _pos.ResetMappings();
        _pos.Given(balance).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 40 }));
        await Task.Delay(TimeSpan.FromSeconds(0.7)); // past the break: the next call is the probe
        var found = await pos.GetBalanceAsync(connection, "777", default);

        Assert.Equal(40, Assert.IsType<PosBalance.Found>(found).Balance);
        Assert.Contains(logs.Lines, l => l.Level == LogLevel.Warning && l.Message.Contains("could not be read", StringComparison.Ordinal));
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(Written(logs, "opened") && Written(logs, "closed")),
            "the failed writes logged");
    }

    /// <summary>A client whose circuits two failures open, without retries, built on <paramref name="services"/> (its board, its logs).</summary>
    private static ServiceProvider TwoFailureClient(IServiceCollection services, Action<PosClientOptions> more) => services.AddPosClient(o =>
    {
        o.AllowPrivateNetworks = true;
        o.MaxRetries = 0;
        o.CircuitMinimumThroughput = 2;
        more(o);
    }).Services.BuildServiceProvider();

    private static bool Written(CapturedLogs logs, string change) => logs.Lines.Any(l => l.Level == LogLevel.Warning
        && l.Message.Contains($"could not be written ({change})", StringComparison.Ordinal));
}
