namespace Loyalty.Bench;

/// <summary>
/// With <c>--expiry-months M</c>: once the run has settled, the program's time jumps past the expiry of every point earned in it (each
/// app instance restarts with <c>ProgramClock:OffsetDays</c>), every customer comes back to My Page (which releases points whose
/// pending period is over and expires what is due), and the POS hears of it. The checker then holds each balance to the generator's
/// arithmetic after expiry (<see cref="SoakRecord.ExpectedBalance"/>), on My Page and at the POS.
/// </summary>
public static partial class Soak
{
    /// <returns>Null, or what was still in flight a minute after the customers came back.</returns>
    private static async Task<string?> JumpPastExpiryAsync(BenchEnvironment env, SoakClient client, SoakRecord record, CancellationToken ct)
    {
        var now = DateTimeOffset.UtcNow;
        var days = (int)Math.Ceiling((now.AddMonths(record.ExpiryMonths) - now).TotalDays) + 1; // past the youngest point of the run
        foreach (var app in env.Apps)
        {
            app.Kill();
            app.Overrides["ProgramClock:OffsetDays"] = days.ToString(System.Globalization.CultureInfo.InvariantCulture);
            await app.StartAsync(ct);
        }
        record.Expired = true;
        Console.WriteLine($"the program's time jumped {days} days ahead: every point earned in the run is past its {record.ExpiryMonths} months");

        foreach (var customer in record.Opening.Keys.Order())
        {
            if (await client.MeAsync(customer, ct) is null) return $"My Page of {customer} did not answer after the jump";
        }
        return await WaitAsync(async () => await SoakChecker.InFlightAsync(env) == 0, TimeSpan.FromMinutes(1), ct)
            ? null
            : $"after the jump past expiry: {await SoakChecker.DescribeInFlightAsync(env)}";
    }
}
