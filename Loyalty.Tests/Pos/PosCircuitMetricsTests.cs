using Loyalty.Pos;
using Loyalty.Tests.Infrastructure.Telemetry;
using Microsoft.Extensions.Logging;
using WireMock.Server;

namespace Loyalty.Tests.Pos;

/// <summary>A POS host's circuit breaker as an operator's dashboard shows it: open while the POS fails, closed again once it answers.</summary>
public sealed class PosCircuitMetricsTests : IDisposable
{
    private readonly WireMockServer _pos = WireMockServer.Start();

    public void Dispose() => _pos.Stop();

    [Fact]
    public async Task A_failing_POS_opens_its_circuit_in_the_gauge_and_a_recovered_one_closes_it()
    {
        await using var services = new ServiceCollection().AddLogging().AddPosClient(o =>
        {
            o.AllowPrivateNetworks = true;
            o.MaxRetries = 0;
            o.CircuitMinimumThroughput = 2;
            o.CircuitFailureRatio = 0.5;
            o.CircuitBreakSeconds = 0.5;
        }).Services.BuildServiceProvider();
        using var metrics = new AppMeasurements(services);
        var connection = new PosConnection(new Uri(_pos.Url!), "pos-key-1");
        var balance = Request.Create().WithPath("/customers/777/points").UsingGet();
        _pos.Given(balance).RespondWith(Response.Create().WithStatusCode(500));

        for (var i = 0; i < 2; i++)
        {
            Assert.IsType<PosBalance.Unavailable>(await services.GetRequiredService<PosClient>().GetBalanceAsync(connection, "777", default));
        }
        var refused = await services.GetRequiredService<PosClient>().GetBalanceAsync(connection, "777", default);

        Assert.IsType<PosBalance.Unavailable>(refused);
        await _pos.SettledAsync(2);
        Assert.Equal(2, _pos.LogEntries.Count); // the open circuit kept the third call from the POS
        Assert.Equal((0d, 1d, 0d), Circuits(metrics));
        Assert.Equal(1, metrics.Sum("loyalty.pos.circuit.transitions", ("state", PosCircuits.Open)));

        _pos.Reset();
        _pos.Given(balance).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 40 }));
        await Task.Delay(TimeSpan.FromSeconds(0.7)); // past the break: the next call is the trial
        var found = await services.GetRequiredService<PosClient>().GetBalanceAsync(connection, "777", default);

        Assert.Equal(40, Assert.IsType<PosBalance.Found>(found).Balance);
        Assert.Equal((1d, 0d, 0d), Circuits(metrics));
        Assert.Equal(1, metrics.Sum("loyalty.pos.circuit.transitions", ("state", PosCircuits.HalfOpen)));
        Assert.Equal(1, metrics.Sum("loyalty.pos.circuit.transitions", ("state", PosCircuits.Closed)));
    }

    [Fact]
    public async Task An_instance_keeps_at_most_MaxCircuits_POS_connections_and_drops_the_least_recently_used()
    {
        await using var services = new ServiceCollection().AddLogging().AddPosClient(o =>
        {
            o.AllowPrivateNetworks = true;
            o.MaxRetries = 0;
            o.CircuitMinimumThroughput = 2;
            o.CircuitBreakSeconds = 60;
            o.MaxCircuits = 2;
        }).Services.BuildServiceProvider();
        using var metrics = new AppMeasurements(services);
        var pos = services.GetRequiredService<PosClient>();
        var balance = Request.Create().WithPath("/customers/777/points").UsingGet();
        _pos.Given(balance).RespondWith(Response.Create().WithStatusCode(500));
        var failing = new PosConnection(new Uri(_pos.Url!), "shop-a-key");
        for (var i = 0; i < 3; i++) await pos.GetBalanceAsync(failing, "777", default); // opens shop A's circuit
        Assert.Equal((0d, 1d, 0d), Circuits(metrics));

        // Shop B keeps A among the two most recent: A's circuit stays open (the POS is not called).
        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "shop-b-key"), "777", default);
        await _pos.SettledAsync();
        var calls = _pos.LogEntries.Count;
        await pos.GetBalanceAsync(failing, "777", default);
        await _pos.SettledAsync();
        Assert.Equal(calls, _pos.LogEntries.Count);

        // Shops C and D push A out: ten thousand shops cannot grow an instance's pipelines past the bound.
        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "shop-c-key"), "777", default);
        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "shop-d-key"), "777", default);
        Assert.Equal(2, services.GetRequiredService<PosPipelines>().Count);
        var (closed, open, halfOpen) = Circuits(metrics);
        Assert.Equal(2d, closed + open + halfOpen);

        // A comes back with a new pipeline, its circuit closed: the POS is called again.
        await _pos.SettledAsync();
        calls = _pos.LogEntries.Count;
        await pos.GetBalanceAsync(failing, "777", default);
        await _pos.SettledAsync(calls + 1);
        Assert.Equal(calls + 1, _pos.LogEntries.Count);
    }

    [Fact]
    public async Task A_connection_dropped_past_MaxCircuits_is_counted_and_logged_without_its_key()
    {
        var logs = new CapturedLogs();
        await using var services = OneCircuitClient(logs);
        using var metrics = new AppMeasurements(services);
        var pos = services.GetRequiredService<PosClient>();
        _pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet())
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = 40 }));

        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "secret-key-of-shop-a"), "777", default);
        Assert.Equal(0, metrics.Sum("loyalty.pos.circuits.evicted"));
        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "secret-key-of-shop-b"), "777", default); // drops shop A's

        Assert.Equal(1, metrics.Sum("loyalty.pos.circuits.evicted", ("state", PosCircuits.Closed)));
        var dropped = Assert.Single(Dropped(logs));
        Assert.Equal(LogLevel.Debug, dropped.Level);
        Assert.DoesNotContain("secret-key", dropped.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_dropped_while_its_circuit_is_open_is_counted_as_open_with_a_warning()
    {
        var logs = new CapturedLogs();
        await using var services = OneCircuitClient(logs, breakSeconds: 60);
        using var metrics = new AppMeasurements(services);
        var pos = services.GetRequiredService<PosClient>();
        await OpenShopACircuitAsync(pos);
        Assert.Equal((0d, 1d, 0d), Circuits(metrics));

        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "secret-key-of-shop-b"), "777", default); // drops shop A's

        Assert.Equal(1, metrics.Sum("loyalty.pos.circuits.evicted", ("state", PosCircuits.Open)));
        Assert.Equal(0, metrics.Sum("loyalty.pos.circuits.evicted", ("state", PosCircuits.Closed)));
        var dropped = Assert.Single(Dropped(logs));
        Assert.Equal(LogLevel.Warning, dropped.Level);
        Assert.Contains("open", dropped.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("secret-key", dropped.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_connection_dropped_after_its_break_ended_is_counted_as_closed_without_a_warning()
    {
        var logs = new CapturedLogs();
        await using var services = OneCircuitClient(logs, breakSeconds: 0.5);
        using var metrics = new AppMeasurements(services);
        var pos = services.GetRequiredService<PosClient>();
        await OpenShopACircuitAsync(pos);
        await Task.Delay(TimeSpan.FromSeconds(0.7)); // its break is over; Polly says open until A's next call, which it would let through

        await pos.GetBalanceAsync(new PosConnection(new Uri(_pos.Url!), "secret-key-of-shop-b"), "777", default); // drops shop A's

        Assert.Equal(1, metrics.Sum("loyalty.pos.circuits.evicted", ("state", PosCircuits.Closed)));
        Assert.Equal(0, metrics.Sum("loyalty.pos.circuits.evicted", ("state", PosCircuits.Open)));
        Assert.Equal(LogLevel.Debug, Assert.Single(Dropped(logs)).Level);
    }

    /// <summary>
    /// A client that keeps one POS connection's circuit (<c>Pos:MaxCircuits</c> 1), logging at debug into <paramref name="logs"/>; with
    /// <paramref name="breakSeconds"/>, a circuit two failures open, for that long, and no retries.
    /// </summary>
    private static ServiceProvider OneCircuitClient(CapturedLogs logs, double? breakSeconds = null) =>
        new ServiceCollection().AddLogging(l => l.AddProvider(logs).SetMinimumLevel(LogLevel.Debug)).AddPosClient(o =>
        {
            o.AllowPrivateNetworks = true;
            o.MaxCircuits = 1;
            if (breakSeconds is not { } seconds) return;
            o.MaxRetries = 0;
            o.CircuitMinimumThroughput = 2;
            o.CircuitBreakSeconds = seconds;
        }).Services.BuildServiceProvider();

    /// <summary>Opens shop A's circuit with two failing calls.</summary>
    private async Task OpenShopACircuitAsync(PosClient pos)
    {
        _pos.Given(Request.Create().WithPath("/customers/777/points").UsingGet()).RespondWith(Response.Create().WithStatusCode(500));
        var failing = new PosConnection(new Uri(_pos.Url!), "secret-key-of-shop-a");
        for (var i = 0; i < 2; i++) await pos.GetBalanceAsync(failing, "777", default);
    }

    private static IEnumerable<CapturedLogs.Line> Dropped(CapturedLogs logs) =>
        logs.Lines.Where(l => l.Category == typeof(PosPipelines).FullName && l.Message.StartsWith("Dropped", StringComparison.Ordinal));

    /// <summary>(closed, open, half-open) circuits, as the gauge reports them now.</summary>
    private static (double Closed, double Open, double HalfOpen) Circuits(AppMeasurements metrics)
    {
        var now = metrics.Observe("loyalty.pos.circuits").ToDictionary(m => m.Tags["state"]!, m => m.Value);
        return (now[PosCircuits.Closed], now[PosCircuits.Open], now[PosCircuits.HalfOpen]);
    }
}
