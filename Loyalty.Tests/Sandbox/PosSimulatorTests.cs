using Loyalty.Pos;
using Loyalty.Sandbox;

namespace Loyalty.Tests.Sandbox;

/// <summary>The POS simulator follows the contract in shared/pos-api.md, as Loyalty.Pos sees it, and its faults behave as named.</summary>
public sealed class PosSimulatorTests : IAsyncLifetime
{
    private PosSimulator _pos = null!;
    private ServiceProvider _services = null!;
    private PosConnection _connection = null!;

    public async Task InitializeAsync()
    {
        _pos = await PosSimulator.StartAsync(seed: 7);
        _pos.SlowDelay = TimeSpan.FromSeconds(3); // past the attempt timeout below, so a slow answer is retried
        _services = new ServiceCollection().AddLogging().AddPosClient(o =>
        {
            o.AllowPrivateNetworks = true;
            o.AttemptTimeoutSeconds = 2; // margins for a loaded machine
            o.TotalTimeoutSeconds = 20;
            o.RetryBaseDelayMs = 10;
            o.CircuitMinimumThroughput = 1000;
        }).Services.BuildServiceProvider();
        _connection = new PosConnection(_pos.BaseUrl, _pos.ApiKey);
        _pos.SetBalance("777", 1250);
    }

    public async Task DisposeAsync()
    {
        await _services.DisposeAsync();
        await _pos.DisposeAsync();
    }

    private PosClient Client => _services.GetRequiredService<PosClient>();

    [Fact]
    public async Task Deductions_apply_once_per_reference_replay_with_200_and_refuse_conflicts_and_overdraws()
    {
        var first = Assert.IsType<PosOutcome.Applied>(await Client.DeductAsync(_connection, "777", 500, "conv_1", null, default));
        var replay = Assert.IsType<PosOutcome.Applied>(await Client.DeductAsync(_connection, "777", 500, "conv_1", null, default));
        var conflict = Assert.IsType<PosOutcome.Rejected>(await Client.DeductAsync(_connection, "777", 400, "conv_1", null, default));
        var overdraw = Assert.IsType<PosOutcome.Rejected>(await Client.DeductAsync(_connection, "777", 5000, "conv_2", null, default));
        var stranger = Assert.IsType<PosOutcome.Rejected>(await Client.AddAsync(_connection, "404", 10, "order:1", null, default));

        Assert.Equal((false, true, 750L), (first.Replayed, replay.Replayed, first.Transaction.Balance!.Value));
        Assert.Equal(("reference_conflict", "insufficient_points", 750L, "customer_not_found"),
            (conflict.Error, overdraw.Error, overdraw.Balance!.Value, stranger.Error));
        Assert.Equal(750, _pos.Balance("777"));
        Assert.Equal(-500, Assert.IsType<PosLookup.Found>(await Client.FindTransactionAsync(_connection, "conv_1", default)).Transaction.Points);
        Assert.IsType<PosLookup.NotFound>(await Client.FindTransactionAsync(_connection, "conv_2", default));
        Assert.Equal(750, Assert.IsType<PosBalance.Found>(await Client.GetBalanceAsync(_connection, "777", default)).Balance);
    }

    [Fact]
    public async Task A_wrong_api_key_is_refused()
    {
        var outcome = await Client.AddAsync(_connection with { ApiKey = "wrong" }, "777", 10, "order:2", null, default);

        Assert.Equal(401, Assert.IsType<PosOutcome.Rejected>(outcome).Status);
        Assert.Empty(_pos.Transactions());
    }

    [Fact]
    public async Task A_shop_key_added_to_the_host_is_accepted_and_a_new_customer_starts_at_zero()
    {
        _pos.AddApiKey("shop-2-key");

        var known = _pos.EnsureCustomer("778");
        var again = _pos.EnsureCustomer("777");
        var applied = await Client.AddAsync(_connection with { ApiKey = "shop-2-key" }, "778", 10, "order:3", null, default);
        var other = await Client.AddAsync(_connection with { ApiKey = "shop-3-key" }, "778", 10, "order:4", null, default);

        Assert.Equal((true, false), (known, again));
        Assert.Equal(10, Assert.IsType<PosOutcome.Applied>(applied).Transaction.Balance);
        Assert.Equal(401, Assert.IsType<PosOutcome.Rejected>(other).Status);
        Assert.Equal((10L, 1250L), (_pos.Balance("778"), _pos.Balance("777")));
    }

    [Theory]
    [InlineData(PosFault.ServerError)]
    [InlineData(PosFault.Throttled)]
    [InlineData(PosFault.Slow)]
    [InlineData(PosFault.AppliedButAnswerLost)]
    public async Task Every_fault_ends_with_the_reference_applied_exactly_once(PosFault fault)
    {
        _pos.FailNext(fault);

        var outcome = await Client.AddAsync(_connection, "777", 100, $"order:{fault}", null, default);

        var ledger = string.Join("; ", _pos.Transactions().Select(t => $"{t.Reference} {t.Points} → {t.Balance}"));
        Assert.True(outcome is PosOutcome.Applied, $"{outcome}; POS ledger: {ledger}");
        Assert.True(_pos.Transactions().Count(t => t.Reference == $"order:{fault}") == 1, $"applied once; POS ledger: {ledger}");
        Assert.True(_pos.Balance("777") == 1350, $"balance {_pos.Balance("777")}; POS ledger: {ledger}");
        Assert.True(_pos.Requests >= 2, "the fault was retried");
    }

    [Fact]
    public async Task Random_faults_from_a_seed_never_apply_a_reference_twice()
    {
        _pos.FaultRate = 0.4;
        for (var i = 0; i < 40; i++)
        {
            var outcome = await Client.AddAsync(_connection, "777", 1, $"order:r{i}", null, default);
            if (outcome is PosOutcome.Unknown) await Client.AddAsync(_connection, "777", 1, $"order:r{i}", null, default); // settle by sending again
        }

        var applied = _pos.Transactions().Where(t => t.Reference.StartsWith("order:r", StringComparison.Ordinal)).ToList();
        Assert.Equal(applied.Count, applied.Select(t => t.Reference).Distinct().Count());
        Assert.Equal(1250 + applied.Count, _pos.Balance("777"));
    }
}
