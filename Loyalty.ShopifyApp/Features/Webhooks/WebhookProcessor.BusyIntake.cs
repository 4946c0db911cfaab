namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>How many lanes a batch gets: fewer while the intake is busy storing what Shopify is waiting on.</summary>
public sealed partial class WebhookProcessor
{
    private readonly Lock _intakeGate = new(); // ProcessDueAsync is public: two callers may read the intake at once
    private DateTimeOffset? _intakeBusySince; // null: the intake is quiet
    private bool _busyPastLimit;

    /// <summary>
    /// <see cref="WebhookOptions.Parallelism"/>, or <see cref="WebhookOptions.BusyIntakeParallelism"/> while the intake is busy: the
    /// processor's lanes take the same cores and database as the intake's writers, and a delivery Shopify waits on comes before an
    /// award that can follow a moment later. Busy from <see cref="WebhookOptions.BusyIntakeDeliveries"/> deliveries being stored,
    /// quiet again once they have not been that many for <see cref="WebhookOptions.BusyIntakeQuietMs"/> (a group commit's dip does
    /// not end a burst); after <see cref="WebhookOptions.BusyIntakeMaxSeconds"/>
    /// busy without a quiet moment, all lanes again, so in a long sale the awards do not fall behind for ever.
    /// </summary>
    private int LanesAtOnce()
    {
        var o = options.Value;
        var storing = inbox.Storing;
        var now = DateTimeOffset.UtcNow;
        lock (_intakeGate)
        {
            var busy = o.BusyIntakeDeliveries > 0 && (storing >= o.BusyIntakeDeliveries || inbox.MsSinceCrowded < o.BusyIntakeQuietMs);
            if (!busy)
            {
                if (_intakeBusySince is { } since) LogIntakeQuiet((now - since).TotalSeconds, o.Parallelism);
                _intakeBusySince = null;
                return o.Parallelism;
            }
            if (_intakeBusySince is null)
            {
                (_intakeBusySince, _busyPastLimit) = (now, false);
                LogIntakeBusy(storing, o.BusyIntakeParallelism, o.BusyIntakeMaxSeconds);
            }
            if (now - _intakeBusySince.Value < TimeSpan.FromSeconds(o.BusyIntakeMaxSeconds)) return o.BusyIntakeParallelism;
            if (!_busyPastLimit) LogIntakeBusyPastLimit(o.BusyIntakeMaxSeconds, storing, o.Parallelism);
            _busyPastLimit = true;
            return o.Parallelism;
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "The intake is busy ({Storing} deliveries being stored): processing on {Lanes} lanes for at most {MaxSeconds} s")]
    private partial void LogIntakeBusy(int storing, int lanes, int maxSeconds);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The intake has been busy for {MaxSeconds} s ({Storing} deliveries being stored): processing on all {Lanes} lanes again")]
    private partial void LogIntakeBusyPastLimit(int maxSeconds, int storing, int lanes);

    [LoggerMessage(Level = LogLevel.Information, Message = "The intake is quiet again after {Seconds:F1} s busy: processing on {Lanes} lanes")]
    private partial void LogIntakeQuiet(double seconds, int lanes);
}
