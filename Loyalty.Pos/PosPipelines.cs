using Microsoft.Extensions.Http.Resilience;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Polly;

namespace Loyalty.Pos;

/// <summary>
/// The resilience pipelines of the POS connections this instance calls, one per connection (<see cref="PosServiceCollectionExtensions.PipelineKey"/>:
/// host and a keyed hash of the API key), so one shop's failing POS never opens another shop's circuit. At most
/// <see cref="PosClientOptions.MaxCircuits"/> are kept: beyond it the least recently used is dropped (counted and logged), and a
/// connection that comes back gets a new pipeline whose circuit starts closed (Polly's own registry would keep every key for the life
/// of the process); a break shared on the <see cref="IPosCircuitBoard"/> still holds it back. Each entry also keeps what the board
/// said of its connection (<see cref="SharedCircuit"/>), so the board is not asked on every call.
/// </summary>
// The board reads' semaphore is not disposed on purpose: reads may still finish while the host shuts down, and a SemaphoreSlim whose
// wait handle is never asked for holds nothing that needs releasing.
[System.Diagnostics.CodeAnalysis.SuppressMessage("Reliability", "CA1001", Justification = "See the comment above.")]
public sealed partial class PosPipelines(IOptions<PosClientOptions> options, PosCircuits circuits, IPosCircuitBoard board, TimeProvider clock,
    ILoggerFactory loggers)
{
    private sealed record Entry(string Key, ResiliencePipeline<HttpResponseMessage> Pipeline, object Circuit);

    /// <summary>The request's <see cref="PosConnection.Circuit"/>, set by <see cref="PosClient"/>.</summary>
    internal static readonly HttpRequestOptionsKey<PosCircuitKey> CircuitKey = new("Loyalty.Pos.CircuitKey");

    private readonly ILogger _logger = loggers.CreateLogger<PosPipelines>();
    private readonly object _gate = new();
    private readonly Dictionary<string, LinkedListNode<Entry>> _byKey = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _recent = new(); // most recently used first
    private readonly SemaphoreSlim _boardReads = new(SharedCircuit.MaxConcurrentReads);

    /// <summary>How many pipelines are kept now.</summary>
    public int Count
    {
        get { lock (_gate) return _byKey.Count; }
    }

    /// <summary>The pipeline of the connection <paramref name="request"/> goes to, made on first use.</summary>
    public ResiliencePipeline<HttpResponseMessage> For(HttpRequestMessage request)
    {
        var key = PosServiceCollectionExtensions.PipelineKey(request);
        lock (_gate)
        {
            if (_byKey.TryGetValue(key, out var node))
            {
                _recent.Remove(node);
                _recent.AddFirst(node);
                return node.Value.Pipeline;
            }
            var circuit = new object();
            var entry = new Entry(key, Build(key, options.Value, circuit), circuit);
            circuits.Track(circuit);
            _byKey[key] = _recent.AddFirst(entry);
            while (_byKey.Count > options.Value.MaxCircuits)
            {
                var oldest = _recent.Last!;
                _recent.RemoveLast();
                _byKey.Remove(oldest.Value.Key);
                var state = circuits.Evict(oldest.Value.Circuit);
                if (state == PosCircuits.Closed) LogEvicted(oldest.Value.Key, options.Value.MaxCircuits);
                else LogEvictedOpen(oldest.Value.Key, state, options.Value.MaxCircuits);
            }
            return entry.Pipeline;
        }
    }

    /// <summary>The shared circuit a call belongs to (<see cref="CircuitKey"/>), from its pipeline's context.</summary>
    internal static PosCircuitKey? CircuitKeyOf(ResilienceContext context) =>
        context.GetRequestMessage()?.Options.TryGetValue(CircuitKey, out var key) == true ? key : null;

    /// <summary>
    /// A total timeout; retries with exponential back-off and jitter on transient failures only (408, 429 honouring Retry-After, 5xx,
    /// connection errors, attempt timeouts); the shared circuit's check (unless nothing is shared); a circuit breaker; a per-attempt
    /// timeout. Polly's telemetry logs its events under the connection's key (which holds a hash of the API key, never the key).
    /// </summary>
    private ResiliencePipeline<HttpResponseMessage> Build(string key, PosClientOptions o, object circuit)
    {
        var pipeline = new ResiliencePipelineBuilder<HttpResponseMessage> { Name = "pos", InstanceName = key }
            .ConfigureTelemetry(loggers)
            .AddTimeout(TimeSpan.FromSeconds(o.TotalTimeoutSeconds));
        if (o.MaxRetries > 0) // Polly refuses a retry strategy of 0 attempts; 0 means none
        {
            pipeline.AddRetry(new HttpRetryStrategyOptions
            {
                MaxRetryAttempts = o.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromMilliseconds(o.RetryBaseDelayMs),
                ShouldRetryAfterHeader = true,
            });
        }
        SharedCircuit? shared = null;
        if (board is not UnsharedCircuitBoard)
        {
            shared = new SharedCircuit(board, _boardReads, clock, TimeSpan.FromSeconds(o.SharedCircuitRefreshSeconds), _logger);
            pipeline.AddStrategy(_ => new SharedCircuitStrategy(shared));
        }
        return pipeline
            .AddCircuitBreaker(new HttpCircuitBreakerStrategyOptions
            {
                FailureRatio = o.CircuitFailureRatio,
                MinimumThroughput = o.CircuitMinimumThroughput,
                SamplingDuration = TimeSpan.FromSeconds(o.CircuitSamplingSeconds),
                BreakDuration = TimeSpan.FromSeconds(o.CircuitBreakSeconds),
                OnOpened = args =>
                {
                    shared?.Opened(CircuitKeyOf(args.Context), args.BreakDuration);
                    circuits.Opened(circuit, args.BreakDuration);
                    return ValueTask.CompletedTask;
                },
                OnHalfOpened = _ =>
                {
                    shared?.HalfOpened();
                    return Moved(circuit, PosCircuits.HalfOpen);
                },
                OnClosed = args =>
                {
                    // Polly closes a half-open circuit on any outcome it does not handle as a failure: a probe the caller cancelled
                    // or the total timeout cut, an answer too long to read. Only an answer of the POS says it is back for everyone.
                    shared?.Closed(CircuitKeyOf(args.Context), answered: !args.IsManual && args.Outcome.Result is not null);
                    return Moved(circuit, PosCircuits.Closed);
                },
            })
            .AddTimeout(TimeSpan.FromSeconds(o.AttemptTimeoutSeconds))
            .Build();
    }

    private ValueTask Moved(object circuit, string state)
    {
        circuits.Moved(circuit, state);
        return ValueTask.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Debug,
        Message = "Dropped the resilience pipeline of POS connection {Connection}, the least recently used of more than {MaxCircuits}")]
    private partial void LogEvicted(string connection, int maxCircuits);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Dropped the resilience pipeline of POS connection {Connection} while its circuit was {State} (more than {MaxCircuits} " +
        "connections, Pos:MaxCircuits): this instance forgets the break and calls that POS again; a break shared between instances " +
        "still holds")]
    private partial void LogEvictedOpen(string connection, string state, int maxCircuits);
}
