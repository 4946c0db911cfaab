using WireMock.Server;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// WireMock journals a request only once its answer is written, so a client can hold the answer (and a test move on)
/// a moment before the journal shows the call. Read a fake's journal after this, not straight after the call.
/// </summary>
public static class WireMockJournal
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(100);

    /// <summary>Waits until the journal holds at least <paramref name="atLeast"/> calls and has been still for 100 ms (5 s at most).</summary>
    public static async Task SettledAsync(this WireMockServer server, int atLeast = 0)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        var seen = server.LogEntries.Count;
        var stillSince = DateTime.UtcNow;
        while (DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            var now = server.LogEntries.Count;
            if (now != seen) (seen, stillSince) = (now, DateTime.UtcNow);
            else if (now >= atLeast && DateTime.UtcNow - stillSince >= Quiet) return;
        }
    }
}
