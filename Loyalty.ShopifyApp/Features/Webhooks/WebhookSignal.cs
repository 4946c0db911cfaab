namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>Wakes the processor as soon as this instance stored a delivery; other instances' are found by polling.</summary>
// Not disposed on purpose: requests may still signal while the host shuts down, and a SemaphoreSlim whose wait handle
// is never asked for holds nothing that needs releasing.
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "See the comment above.")]
public sealed class WebhookSignal
{
    private readonly SemaphoreSlim _semaphore = new(0, 1);

    /// <summary>Wakes the processor. Called for every stored delivery: while it is already signalled this costs a read, not an exception.</summary>
    public void Notify()
    {
        if (_semaphore.CurrentCount > 0) return;
        try { _semaphore.Release(); }
        catch (SemaphoreFullException) { /* signalled meanwhile by another request */ }
    }

    public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _semaphore.WaitAsync(timeout, ct);
}
