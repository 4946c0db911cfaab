namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// The system clock, moved forward by <see cref="Shift"/>: time passing without the test waiting for it. Given to an app as its
/// <see cref="TimeProvider"/>; signed app-proxy requests must then carry its time (<see cref="LoyaltyApp.ProxyPath"/>'s timestamp).
/// </summary>
public sealed class ShiftedClock : TimeProvider
{
    public TimeSpan Shift { get; set; }

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Shift;
}
