namespace Loyalty.Sandbox;

/// <summary>
/// What the Shopify simulator does to a call instead of answering it plainly: queued (<see cref="ShopifySimulator.FailNext"/>)
/// or drawn at its fault rate.
/// </summary>
public enum ShopifyFault
{
    /// <summary>Answer 500 without doing anything.</summary>
    ServerError,

    /// <summary>Answer THROTTLED (HTTP 200, no data) without doing anything.</summary>
    Throttled,

    /// <summary>Do the work, then drop the connection before answering.</summary>
    AppliedButAnswerLost,

    /// <summary>Answer 500 at once, and do the work <see cref="ShopifySimulator.LateApplyDelay"/> later (queued only, never drawn).</summary>
    AppliedLate,
}
