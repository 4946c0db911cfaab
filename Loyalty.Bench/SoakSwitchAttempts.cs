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

    /// <summary>An attempt answered later than this may have outlived the held conversion (its lease is 15 s): void.</summary>
    private static readonly TimeSpan MaxAnswer = TimeSpan.FromSeconds(8);

    public static Task Start(Soak.Options o, Random random, BenchEnvironment env, SoakClient client, SoakRecord record, long witness,
        int operations, Func<int> done, CancellationToken ct)
    {
        var at = Enumerable.Range(0, PerMode).Select(_ => 0.05 + 0.9 * random.NextDouble()).Order().ToList();
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
                    var clock = System.Diagnostics.Stopwatch.StartNew();
                    var (status, code) = await client.PutSettingsAsync(away, ct);
                    if (clock.Elapsed < MaxAnswer)
                    {
                        record.SwitchAttempts.Enqueue((key, status, code));
                        record.Count($"balance-source switch attempted while a conversion was in flight: {status} {code}");
                    }
                    else
                    {
                        // So slow (an instance killed, the database away) that the held conversion may have been taken
                        // over and ended meanwhile: then a 200 would be right, and the attempt proves nothing.
                        record.Count($"balance-source switch attempt void: answered after {clock.Elapsed.TotalSeconds:F0} s ({status} {code})");
                    }
                    for (var tries = 0; status == 200 && tries < 20; tries++)
                    {
                        (status, code) = await client.PutSettingsAsync(back, ct);
                        if (status != 200) await Task.Delay(500, ct);
                    }
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
