using System.Diagnostics;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>Shopify's answers: each figure goes to the shared row behind the call, newest first and never an older over a newer.</summary>
public sealed partial class ShopifyCostBucket
{
    /// <summary>The shops whose answers are being written to the shared row by this instance.</summary>
    private readonly Dictionary<string, ShopWrites> _writing = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _writingLock = new();

    /// <summary>
    /// What Shopify said about the bucket in a response (successful or THROTTLED). The caller goes on at once: the figure is written
    /// to the shared row in the background (<see cref="WriteLatestAsync"/>, off the caller's context), and this instance's next
    /// reservation for the shop waits for it (<see cref="TryReserveAsync"/>). Another instance sees it a round trip later, as if the
    /// call had taken that much longer. Not cancelled with the call: the answer is in, and the bucket must learn from it.
    /// </summary>
    public void Observe(string shop, string document, double? requestedCost, double maximum, double currentlyAvailable, double restoreRate)
    {
        if (requestedCost is > 0 and var c) _costs[document] = c;
        if (maximum <= 0 || restoreRate <= 0) return;
        Mirror(shop, maximum, restoreRate, currentlyAvailable);
        var figure = new Figure(maximum, restoreRate, currentlyAvailable, Stopwatch.GetTimestamp());
        ShopWrites? writes;
        lock (_writingLock)
        {
            if (_writing.TryGetValue(shop, out writes))
            {
                writes.Next = figure; // an older one still waiting is replaced: only the newest answer matters
                return;
            }
            writes = new ShopWrites { Next = figure };
            _writing[shop] = writes;
        }
        // On the thread pool without the caller's context: the write is not part of the request's trace, and the caller goes on.
        ThreadPool.UnsafeQueueUserWorkItem(static s => _ = s.Bucket.WriteLatestAsync(s.Shop, s.Writes),
            (Bucket: this, Shop: shop, Writes: writes), preferLocal: false);
    }

    /// <summary>An answer's figure, and when it came (an older answer's figure never replaces a newer one's in the shared row).</summary>
    private sealed record Figure(double Maximum, double RestoreRate, double Available, long At);

    /// <summary>A shop's writes on this instance: one under way at a time, and the newest figure still to write.</summary>
    private sealed class ShopWrites
    {
        /// <summary>The newest figure the writer has not taken yet.</summary>
        public Figure? Next;

        /// <summary>Done once the figure in <see cref="Next"/> (or a newer one that replaced it) is written.</summary>
        public TaskCompletionSource NextWritten = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Done once the figure being written now is.</summary>
        public Task Writing = Task.CompletedTask;
    }

    /// <summary>
    /// The write of this instance's last answer for the shop, while it is under way: a reservation waits for that one only, not for
    /// answers that come after it.
    /// </summary>
    private Task? WriteUnderWay(string shop)
    {
        lock (_writingLock)
        {
            return !_writing.TryGetValue(shop, out var writes) ? null : writes.Next is not null ? writes.NextWritten.Task : writes.Writing;
        }
    }

    /// <summary>
    /// Writes the shop's newest figure until none is left, one at a time and in the order they came. At most one write per shop is
    /// under way and one waits, however many answers arrive. Whatever happens, every figure handed out to a reservation is completed
    /// and the shop's entry goes, so a reservation never waits for ever.
    /// </summary>
    private async Task WriteLatestAsync(string shop, ShopWrites writes)
    {
        try
        {
            while (await WriteNextAsync(shop, writes))
            {
            }
        }
        catch (Exception e) // a logger that failed: the estimate goes without the rest, the next answer starts again
        {
            LogWriterStopped(e, shop);
        }
        finally
        {
            lock (_writingLock)
            {
                if (_writing.TryGetValue(shop, out var current) && current == writes) _writing.Remove(shop);
                writes.NextWritten.TrySetResult();
            }
        }
    }

    /// <summary>Writes the figure waiting, if any; false when none was (the shop's entry is gone then).</summary>
    private async Task<bool> WriteNextAsync(string shop, ShopWrites writes)
    {
        Figure? figure;
        TaskCompletionSource written;
        lock (_writingLock)
        {
            (figure, writes.Next) = (writes.Next, null);
            if (figure is null)
            {
                _writing.Remove(shop);
                return false;
            }
            (written, writes.NextWritten) = (writes.NextWritten, new(TaskCreationOptions.RunContinuationsAsynchronously));
            writes.Writing = written.Task;
        }
        try
        {
            await using var conn = await db.OpenConnectionAsync(CancellationToken.None);
            // Shopify's figure counts every call that reached it; calls still waiting their turn (on any instance) have not yet. The
            // refill counts from the write (calls other instances sent since the answer are in neither figure); an answer older
            // than the one the row holds (another instance's, written first) changes nothing.
            await conn.ExecuteAsync($"""
                INSERT INTO shopify_cost_buckets AS b (shop_domain, maximum, restore_rate, available, at, observed_at)
                VALUES (@shop, @Maximum, @RestoreRate, @Available, clock_timestamp(), clock_timestamp() - make_interval(secs => @age))
                ON CONFLICT (shop_domain) DO UPDATE SET maximum = excluded.maximum, restore_rate = excluded.restore_rate,
                    available = excluded.available - {Waiting}, at = excluded.at, observed_at = excluded.observed_at
                WHERE b.observed_at IS NULL OR b.observed_at <= excluded.observed_at
                """, new { shop, figure.Maximum, figure.RestoreRate, figure.Available, age = Stopwatch.GetElapsedTime(figure.At).TotalSeconds });
        }
        catch (Exception e) // the estimate goes without this figure; the next answer corrects it
        {
            LogUnshared(e, shop);
        }
        finally
        {
            written.TrySetResult();
        }
        return true;
    }

    [LoggerMessage(Level = LogLevel.Error,
        Message = "The writer of Shopify's answers to the shared cost bucket of {Shop} stopped; the next answer starts it again")]
    private partial void LogWriterStopped(Exception e, string shop);
}
