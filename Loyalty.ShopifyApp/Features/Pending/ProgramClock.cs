namespace Loyalty.ShopifyApp.Features.Pending;

/// <summary>
/// The time the points program's own rules go by (when an order's pending period ends, when points expire): the app's clock, plus
/// an offset only the sandbox sets (its home page moves the demo shop's time forward) or, in Development, <see cref="ProgramClockOptions"/>
/// (the soak). Protocol times (signatures, access tokens, heartbeats, back-off) stay on the app's clock, so moving this one breaks none
/// of them.
/// </summary>
public sealed class ProgramClock(TimeProvider clock, IOptions<ProgramClockOptions> options)
{
    private long _offsetTicks = TimeSpan.FromDays(options.Value.OffsetDays).Ticks;

    /// <summary>How far the program's time is ahead of the app's clock: always zero outside the sandbox.</summary>
    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public DateTimeOffset Now => clock.GetUtcNow() + Offset;

    /// <summary>For the sandbox's controls only (nothing else in the app calls it).</summary>
    internal void SetOffset(TimeSpan offset) => Interlocked.Exchange(ref _offsetTicks, offset.Ticks);
}
