using System.Diagnostics;

namespace Loyalty.Bench;

/// <summary>
/// The soak settles: the faults stop, everything must come to rest by itself (the missed-order sweep included), the
/// customers come back to what they left, and the merchant resolves the POS's refusals of customers it did not know.
/// </summary>
public static partial class Soak
{
    /// <summary>How long the run took to come to rest, and what was still in flight if it never did.</summary>
    private static async Task<(TimeSpan Quiescence, string? Stuck)> SettleAsync(BenchEnvironment env, SoakClient client, SoakRecord record,
        CancellationToken ct)
    {
        // Faults off; everything must settle by itself, the sweep included (it finds the orders whose webhooks were lost).
        env.Pos.FaultRate = 0;
        env.Shopify.FaultRate = 0;
        var lastLost = DateTimeOffset.UtcNow;
        var quiet = Stopwatch.StartNew();
        var lastReport = TimeSpan.Zero;
        var lastIncidents = TimeSpan.FromSeconds(-5); // the first look at the incidents is at once
        var settled = await WaitAsync(async () =>
        {
            var swept = await env.ScalarAsync<bool>("SELECT coalesce(max(swept_until) >= @at, false) FROM order_sweeps",
                new { at = lastLost.AddSeconds(1) });
            if (swept && await SoakChecker.InFlightAsync(env) == 0) return true;
            if (quiet.Elapsed - lastIncidents > TimeSpan.FromSeconds(5))
            {
                lastIncidents = quiet.Elapsed;
                await RetryFailedListWritesAsync(client, record, ct);
            }
            if (quiet.Elapsed - lastReport > TimeSpan.FromSeconds(15))
            {
                lastReport = quiet.Elapsed;
                Console.WriteLine(
                    $"  [+{quiet.Elapsed.TotalSeconds:F0} s] still in flight: " +
                    $"{await SoakChecker.DescribeInFlightAsync(env)}{(swept ? "" : ", the sweep has not caught up")}");
            }
            return false;
        }, TimeSpan.FromMinutes(10), ct);
        var quiescence = quiet.Elapsed;
        var stuck = settled ? null
            : $"{await SoakChecker.DescribeInFlightAsync(env)}; the missed-order sweep "
              + (await env.ScalarAsync<bool>("SELECT coalesce(max(swept_until) >= @at, false) FROM order_sweeps", new { at = lastLost.AddSeconds(1) })
                  ? "caught up"
                  : "never swept past the end of the load (its Hangfire lock held by a killed instance?)");
        Console.WriteLine(settled ? $"quiescent {quiescence.TotalSeconds:F1} s after the faults stopped"
            : $"NOT quiescent after {quiescence.TotalSeconds:F0} s: {stuck}");

        // The customers come back: a conversion they left while it was processing, a cancellation answered 202.
        foreach (var (id, customer) in record.Unsettled.ToList()) await client.PollAsync(id, customer, TimeSpan.FromSeconds(2),
            "when the customer came back", ct);
        foreach (var c in record.Cancels.Values.Where(c => c.Outcome == "pending").ToList())
        {
            await client.CancelAsync(record.Codes[c.Code], c.AfterRedeem, c.Raced, attempts: 3, ct);
        }

        // The merchant resolves the refusals of customers the POS did not know: creates them there, retries their changes.
        if (record.UnknownToPos.Count > 0) await ResolveUnknownCustomersAsync(env, client, record, ct);
        return (quiescence, stuck);
    }

    /// <summary>
    /// The merchant works the incident queue: a customer's list whose write failed time after time under the faults
    /// (<c>Conversion:MetafieldMaxFailures</c> drives in a row, the reconciler's about 2 s apart here) waits for the merchant, who
    /// resolves it once Shopify answers again, and the app writes it again. Without this the run never comes to rest when a streak of
    /// faults hit one list. An incident the app closed itself meanwhile (its list went through) answers 409, which is as good.
    /// </summary>
    private static async Task RetryFailedListWritesAsync(SoakClient client, SoakRecord record, CancellationToken ct)
    {
        var open = await client.AdminGetAsync("/api/admin/coupon-incidents?resolved=false", ct);
        foreach (var incident in open.EnumerateArray().Where(i => i.GetProperty("kind").GetString() == "metafield_write_failed"))
        {
            var id = incident.GetProperty("id").GetInt64();
            var status = await client.ResolveIncidentAsync(id, "Shopify answers again; write the list.", ct);
            if (status == 200) record.Count("a list write that failed time after time: the merchant resolved its incident, for the app to write it");
            else if (status == 409) record.Count("a list write that failed time after time: closed by the app before the merchant resolved it");
            else client.Anomalies.Enqueue($"incident {id}: the merchant's resolve answered {status}");
        }
    }

    private static async Task ResolveUnknownCustomersAsync(BenchEnvironment env, SoakClient client, SoakRecord record, CancellationToken ct)
    {
        foreach (var c in record.UnknownToPos) env.Pos.SetBalance(c.ToString(), 0);
        var refused = new List<long>();
        for (long? before = null; ;)
        {
            var page = await client.AdminGetAsync($"/api/admin/pos-sync?state=refused&limit=200{(before is null ? "" : $"&before={before}")}", ct);
            var items = page.EnumerateArray().ToList();
            refused.AddRange(items.Where(i => record.UnknownToPos.Contains(i.GetProperty("customerId").GetInt64())).Select(
                i => i.GetProperty("id").GetInt64()));
            if (items.Count < 200) break;
            before = items[^1].GetProperty("id").GetInt64();
        }
        foreach (var id in refused.Order())
        {
            var status = await client.RetryPosChangeAsync(id, ct);
            record.Count(status is >= 200 and < 300 ? "POS refusal resolved: the customer created at the POS, the change retried"
                : $"POS refusal retry answered {status}");
        }
        if (!await WaitAsync(async () => await SoakChecker.InFlightAsync(env) == 0, TimeSpan.FromMinutes(2), ct))
        {
            Console.WriteLine($"the retried POS changes did not all settle: {await SoakChecker.DescribeInFlightAsync(env)}");
        }
    }
}
