using Polly;
using Polly.CircuitBreaker;

namespace Loyalty.Pos;

/// <summary>
/// A pipeline's check of the <see cref="IPosCircuitBoard"/>, just before its circuit breaker: a call of a connection another instance
/// broke fails as this instance's open circuit would fail it, without reaching the POS, and without counting as one of its failures.
/// </summary>
internal sealed class SharedCircuitStrategy(SharedCircuit shared) : ResilienceStrategy<HttpResponseMessage>
{
    protected override async ValueTask<Outcome<HttpResponseMessage>> ExecuteCore<TState>(
        Func<ResilienceContext, TState, ValueTask<Outcome<HttpResponseMessage>>> callback, ResilienceContext context, TState state)
    {
        if (PosPipelines.CircuitKeyOf(context) is { } key && await shared.OpenForAsync(key, context.CancellationToken) is { } left)
        {
            return Outcome.FromException<HttpResponseMessage>(new BrokenCircuitException(
                $"The circuit of this POS connection was opened by another instance and stays open {left.TotalSeconds:F1} s more."));
        }
        return await callback(context, state).ConfigureAwait(context.ContinueOnCapturedContext);
    }
}
