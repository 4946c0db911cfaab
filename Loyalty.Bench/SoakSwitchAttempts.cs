namespace Loyalty.Bench;

/// <summary>
/// The merchant tries to switch the balance source mid-run, each time while a conversion is certainly in flight: the
/// witness customer's coupon creation is held at the Shopify simulator, and the switch is sent only once that creation
/// has arrived there. The app must refuse every one (409 <c>conversions_in_flight</c>): a conversion finishes against
/// the source it started with. Should one be accepted, it is recorded and switched back at once.
/// </summary>
public static class SoakSwitchAttempts
{
    public const int PerMode = 4;

    public static Task Start(Soak.Options o, Random random, BenchEnvironment env, SoakClient client, SoakRecord record, long witness,
        int operations, Func<int> done, CancellationToken ct)
    {
        var at = Enumerable.Range(0, PerMode).Select(_ => 0.05 + 0.9 * random.NextDouble()).Order().ToList();
        record.Demand.AddOrUpdate(witness, 3 * 100L * PerMode, (_, d) => d + 3 * 100L * PerMode);
        object away = record.PosMode ? new { balanceSource = "ledger" }
            : new { balanceSource = "pos", posBaseUrl = env.Pos.BaseUrl.ToString(), posApiKey = env.Pos.ApiKey };
        object back = record.PosMode ? new { balanceSource = "pos" } : new { balanceSource = "ledger", posBaseUrl = "", posApiKey = "" };
        return Task.Run(async () =>
        {
            for (var i = 0; i < at.Count; i++)
            {
                while (done() < at[i] * operations) await Task.Delay(50, ct);
                var key = $"soak-{o.Seed}-switch-{i}";
                var hold = env.Shopify.HoldNextCreationFor(witness);
                var conversion = client.ConvertAsync(witness, 100, key, replay: false, ct);
                var arrived = await Task.WhenAny(hold.Arrived.Task, Task.Delay(TimeSpan.FromSeconds(30), ct)) == hold.Arrived.Task;
                if (arrived)
                {
                    var (status, code) = await client.PutSettingsAsync(away, ct);
                    record.SwitchAttempts.Enqueue((key, status, code));
                    record.Count($"balance-source switch attempted while a conversion was in flight: {status} {code}");
                    if (status == 200) await client.PutSettingsAsync(back, ct);
                }
                else
                {
                    record.Count("balance-source switch not attempted: the witness's coupon creation did not reach Shopify within 30 s");
                }
                hold.Release();
                await conversion;
            }
        }, ct);
    }
}
