using System.Text.Json;
using Polly.CircuitBreaker;
using Polly.Timeout;

namespace Loyalty.Pos;

/// <summary>
/// A connection <see cref="NetworkGuard"/> refused. The message names neither the address the host resolved to nor the
/// rule that refused it: callers' errors reach merchants. The guard logs both for the operator.
/// </summary>
public sealed class OutboundAddressRefusedException()
    : IOException("The host resolves to an address this service does not connect to (not a public address, or a denied one).");

/// <summary>
/// What a merchant is told when a call to a URL they entered (a POS, an event endpoint) fails: one of a few stable reasons,
/// never a resolved address or an exception's message. Told apart in more detail (refused, reset, TLS, no such name), the
/// failures of URLs a merchant can choose would map the network this service runs in, like a port scanner. The detail is
/// for the app's log (<see cref="Detail"/>).
/// </summary>
public static class OutboundFailure
{
    public const string NotAllowed = "refused: address not allowed";
    public const string TimedOut = "timed out";
    public const string Unreachable = "unreachable";
    public const string CircuitOpen = "circuit open after repeated failures";
    public const string NotUnderstood = "answer not understood";

    public static string TooLarge(long limit) => $"the answer was larger than {limit} bytes";

    /// <summary>The stable reason for <paramref name="e"/>, a failure of the call (not the caller cancelling it).</summary>
    public static string Reason(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
        {
            switch (x)
            {
                case OutboundAddressRefusedException:
                    return NotAllowed;
                case ResponseTooLargeException tooLarge:
                    return TooLarge(tooLarge.Limit);
                case BrokenCircuitException:
                    return CircuitOpen;
                case TimeoutRejectedException or TimeoutException or OperationCanceledException:
                    return TimedOut;
                case JsonException:
                    return NotUnderstood;
            }
        }
        return Unreachable;
    }

    /// <summary>Every exception in <paramref name="e"/>'s chain with its message: for the log only.</summary>
    public static string Detail(Exception e)
    {
        var parts = new List<string>();
        for (var x = e; x is not null; x = x.InnerException) parts.Add($"{x.GetType().Name}: {x.Message}");
        return string.Join(" <- ", parts);
    }
}
