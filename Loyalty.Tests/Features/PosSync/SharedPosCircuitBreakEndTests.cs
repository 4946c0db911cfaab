using Loyalty.Pos;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// How a shared POS break ends (issue 19): when its time is up every instance calls the POS again, and a probe that succeeds on
/// the instance whose circuit opened takes the break off the board, so the others resume at once, even before a break another
/// instance posted would end. A probe that ends without an answer of the POS ends nothing.
/// </summary>
public sealed class SharedPosCircuitBreakEndTests(ShortBreakInstances app) : SharedPosCircuitTestBase<ShortBreakInstances>(app)
{
    [Fact]
    public async Task After_the_break_the_other_instance_calls_the_POS_again()
    {
        await OpenOnTheFirstInstanceAsync();
        Assert.Equal("ledger_fallback", await BalanceSourceAsync(Second, Shop));
        Assert.Equal(2, PosReads()); // held back while the break runs
        Pos.ResetMappings();
        Pos.Given(BalanceRead()).RespondWith(Balance(40));

        await LoyaltyApp.WaitUntilAsync(async () => await BalanceSourceAsync(Second, Shop) == "pos", "the second instance reading the POS");

        Assert.Equal(3, PosReads());
    }

    [Fact]
    public async Task A_probe_that_succeeds_clears_the_shared_break_and_the_other_instance_resumes_before_it_would_end()
    {
        await OpenOnTheFirstInstanceAsync();
        // Another instance's circuit opened later with a longer break (the board keeps the latest end): an hour.
        await App.ScalarAsync<int>("UPDATE pos_circuits SET open_until = clock_timestamp() + interval '1 hour' WHERE shop_domain = @shop",
            new { shop = Shop });
        Assert.Equal("ledger_fallback", await BalanceSourceAsync(Second, Shop));
        Assert.Equal(2, PosReads());
        Pos.ResetMappings();
        Pos.Given(BalanceRead()).RespondWith(Balance(40));

        // The first instance's own break ends: its next read is the probe, which goes through whatever the board says, and succeeds.
        await LoyaltyApp.WaitUntilAsync(async () => await BalanceSourceAsync(App, Shop) == "pos", "the first instance's probe");
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM pos_circuits WHERE shop_domain = @shop", new { shop = Shop }) == 0, "the shared break taken down");

        Assert.Equal("pos", await BalanceSourceAsync(Second, Shop));
        Assert.Equal(4, PosReads()); // the probe and the second instance's read
    }

    [Fact]
    public async Task A_probe_the_caller_cancels_leaves_the_shared_break_and_both_instances_still_fail_fast()
    {
        await OpenOnTheFirstInstanceAsync();
        // Another instance's circuit opened later with a longer break (the board keeps the latest end): an hour.
        await App.ScalarAsync<int>("UPDATE pos_circuits SET open_until = clock_timestamp() + interval '1 hour' WHERE shop_domain = @shop",
            new { shop = Shop });
        Pos.ResetMappings();
        Pos.Given(BalanceRead()).RespondWith(Balance(40).WithDelay(TimeSpan.FromSeconds(2)));
        var pos = App.Services.GetRequiredService<PosClient>();
        var connection = await SavedConnectionAsync();

        // The first instance's own break ends: its next read is the probe, whose caller gives up before the POS answers (before the
        // attempt timeout too, which would count as a failure).
        await LoyaltyApp.WaitUntilAsync(async () =>
        {
            using var cancel = new CancellationTokenSource(TimeSpan.FromSeconds(0.2));
            try
            {
                Assert.Equal(OutboundFailure.CircuitOpen, Assert.IsType<PosBalance.Unavailable>(
                    await pos.GetBalanceAsync(connection, "777", cancel.Token)).Reason);
                return false;
            }
            catch (OperationCanceledException)
            {
                return true;
            }
        }, "the first instance's probe, cancelled");
        Pos.ResetMappings();
        Pos.Given(BalanceRead()).RespondWith(Balance(40));
        await Task.Delay(TimeSpan.FromSeconds(1)); // ten refresh intervals: a deletion of the break would have been written and read

        Assert.Equal(1, await BreaksAsync(Shop));
        Assert.Equal("ledger_fallback", await BalanceSourceAsync(Second, Shop));
        Assert.Equal("ledger_fallback", await BalanceSourceAsync(App, Shop));
    }
}
