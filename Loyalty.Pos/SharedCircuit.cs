using Microsoft.Extensions.Logging;

namespace Loyalty.Pos;

/// <summary>
/// One POS connection's part of the <see cref="IPosCircuitBoard"/> in this instance, kept in its <see cref="PosPipelines"/> entry (so
/// as bounded as the pipelines): what the board last said of each shop calling through it, asked at most every
/// <paramref name="refresh"/>, and the writes of the connection's circuit changes, made in order and off the calls' path. The board
/// is consulted only while this instance's own circuit is closed: an open or half-open one decides alone, so this instance's probe
/// is sent when its own break ends and, if it succeeds, takes the shared break down for all. <paramref name="reads"/> bounds the board
/// reads of every connection in flight at once (<see cref="MaxConcurrentReads"/>).
/// </summary>
internal sealed partial class SharedCircuit(IPosCircuitBoard board, SemaphoreSlim reads, TimeProvider clock, TimeSpan refresh, ILogger logger)
{
    /// <summary>
    /// How long calls wait for a board read, counted from its start: past it they go ahead with the last answer (the read still
    /// lands), so a slow database delays only the calls of a read's first second, not every call while it is slow.
    /// </summary>
    private static readonly TimeSpan ReadWait = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Board reads in flight at once, for all connections of an instance. A read is a one-row lookup by key, a millisecond, so a few
    /// serve thousands of shops' refreshes a second; more at once only when the database is slow, and then more would only take
    /// connections that requests and jobs need from its pool. The others queue; calls do not wait for them past
    /// <see cref="ReadWait"/>.
    /// </summary>
    internal const int MaxConcurrentReads = 8;

    /// <summary>Shops a connection's memory holds (one, unless shops share a POS key or a merchant tries keys); past it, it starts over.</summary>
    private const int MaxShops = 16;

    private sealed class Seen
    {
        public long? ReadAt;
        public long? OpenUntil;
        public Task? Reading;
        public long ReadingSince;
        /// <summary>A call gave up waiting for <see cref="Reading"/>: said once a read, not once a call.</summary>
        public bool ReadingReportedSlow;
        /// <summary>Counts this instance's own word on the connection (a probe that succeeded), which a read begun before it must not undo.</summary>
        public int Version;
    }

    private readonly Lock _gate = new();
    private readonly Dictionary<PosCircuitKey, Seen> _seen = [];
    private Task _writes = Task.CompletedTask;
    private volatile bool _locallyClosed = true;

    /// <summary>
    /// How much is left of a break of <paramref name="key"/> another instance shared, or null: none, this instance's own circuit is not
    /// closed (it decides), or the board could not say in time.
    /// </summary>
    public async ValueTask<TimeSpan?> OpenForAsync(PosCircuitKey key, CancellationToken ct)
    {
        if (!_locallyClosed) return null;
        Seen seen;
        Task? reading;
        var wait = TimeSpan.Zero;
        lock (_gate)
        {
            seen = SeenOf(key);
            var now = clock.GetTimestamp();
            if (seen.Reading is null && (seen.ReadAt is not { } at || clock.GetElapsedTime(at, now) >= refresh))
            {
                seen.ReadAt = seen.ReadingSince = now;
                seen.ReadingReportedSlow = false;
                var version = seen.Version;
                seen.Reading = Task.Run(() => ReadAsync(key, seen, version), CancellationToken.None);
            }
            reading = seen.Reading;
            if (reading is not null) wait = ReadWait - clock.GetElapsedTime(seen.ReadingSince, now);
        }
        if (reading is not null && wait > TimeSpan.Zero)
        {
            try
            {
                await reading.WaitAsync(wait, clock, ct);
            }
            catch (TimeoutException)
            {
                ReportSlow(key, seen);
            }
        }
        lock (_gate)
        {
            var now = clock.GetTimestamp();
            return seen.OpenUntil is { } until && until > now ? clock.GetElapsedTime(now, until) : null;
        }
    }

    /// <summary>This instance's circuit opened on a call of <paramref name="key"/> (null: a call that takes no part in sharing).</summary>
    public void Opened(PosCircuitKey? key, TimeSpan breakDuration)
    {
        _locallyClosed = false;
        if (key is not null) Write(key, "opened", ct => board.OpenedAsync(key, breakDuration, ct));
    }

    public void HalfOpened() => _locallyClosed = false;

    /// <summary>
    /// This instance's circuit closed. When a probe of <paramref name="key"/> was <paramref name="answered"/> by the POS, no break of it
    /// holds here, nor anywhere once written; a probe that ended without an answer (cancelled, cut off) proves nothing, so a shared
    /// break is left to run out, and holds this instance back too.
    /// </summary>
    public void Closed(PosCircuitKey? key, bool answered)
    {
        _locallyClosed = true;
        if (key is null || !answered) return;
        lock (_gate)
        {
            // The probe's answer is the latest word: no read for a refresh interval, by when the board has been told.
            var seen = SeenOf(key);
            seen.OpenUntil = null;
            seen.ReadAt = clock.GetTimestamp();
            seen.Version++;
        }
        Write(key, "closed", ct => board.ClosedAsync(key, ct));
    }

    private Seen SeenOf(PosCircuitKey key)
    {
        if (_seen.TryGetValue(key, out var seen)) return seen;
        if (_seen.Count >= MaxShops) _seen.Clear();
        return _seen[key] = new Seen();
    }

    private void ReportSlow(PosCircuitKey key, Seen seen)
    {
        lock (_gate)
        {
            if (seen.ReadingReportedSlow) return;
            seen.ReadingReportedSlow = true;
        }
        LogReadSlow(key.Shop, ReadWait.TotalSeconds);
    }

    private async Task ReadAsync(PosCircuitKey key, Seen seen, int version)
    {
        long? until = null;
        var read = false;
        // Not cancelled with the call that started it: the answer serves every call of the next refresh interval.
        await reads.WaitAsync(CancellationToken.None);
        try
        {
            if (await board.OpenForAsync(key, CancellationToken.None) is { } left) until = clock.GetTimestamp() + Ticks(left);
            read = true;
        }
        catch (Exception e)
        {
            LogReadFailed(e, key.Shop);
        }
        finally
        {
            reads.Release();
        }
        lock (_gate)
        {
            if (read && seen.Version == version) seen.OpenUntil = until; // unread, a break known before still runs out on its own
            seen.Reading = null;
        }
    }

    /// <summary>In order (an opening is never overtaken by the closing after it); a failure is logged, never a POS call's.</summary>
    private void Write(PosCircuitKey key, string change, Func<CancellationToken, Task> write)
    {
        lock (_gate)
        {
            _writes = _writes.ContinueWith(async _ =>
            {
                try
                {
                    await write(CancellationToken.None);
                }
                catch (Exception e)
                {
                    LogWriteFailed(e, key.Shop, change);
                }
            }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default).Unwrap();
        }
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * clock.TimestampFrequency);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The shared POS circuit of {Shop} could not be read; its calls go by this instance's circuit alone until it can")]
    private partial void LogReadFailed(Exception e, string shop);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The shared POS circuit of {Shop} did not answer within {Seconds} s; calls go by what it last said until it does")]
    private partial void LogReadSlow(string shop, double seconds);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The shared POS circuit of {Shop} could not be written ({Change}); the other instances go by their own circuits meanwhile")]
    private partial void LogWriteFailed(Exception e, string shop, string change);
}
