using System.Diagnostics;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loyalty.Sandbox;

/// <summary>What the simulator does to the next requests, or to a share of all requests (seeded, reproducible).</summary>
public enum PosFault
{
    /// <summary>Answer 500 without doing anything.</summary>
    ServerError,

    /// <summary>Answer 429 with Retry-After without doing anything.</summary>
    Throttled,

    /// <summary>Do the work, then drop the connection before answering.</summary>
    AppliedButAnswerLost,

    /// <summary>Wait <see cref="PosSimulator.SlowDelay"/> before handling.</summary>
    Slow,
}

/// <summary>
/// A stateful POS points API on a real local socket, following <c>shared/pos-api.md</c>: balances per customer,
/// deductions and additions applied at most once per reference (a replay answers 200 with the first result, other
/// points 409), 422 below zero, 404 for unknown customers, lookups by reference. Faults can be queued for the next
/// requests or drawn at a rate from a seeded random source, so a run can be replayed. Its ledger is the ground
/// truth tests and the soak check against.
/// </summary>
public sealed partial class PosSimulator : IAsyncDisposable
{
    public sealed record Transaction(string TransactionId, string CustomerId, string Reference, long Points, long Balance, DateTimeOffset CreatedAt);

    [GeneratedRegex(@"^[A-Za-z0-9_:.-]{1,100}\z")]
    private static partial Regex ReferencePattern();

    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly Dictionary<string, long> _balances = [];
    private readonly Dictionary<string, Transaction> _byReference = [];
    private readonly List<Transaction> _transactions = [];
    private readonly List<(PosFault Fault, string? Path)> _nextFaults = [];
    private readonly Random _random;
    private long _requests;

    private PosSimulator(WebApplication app, string apiKey, int seed)
    {
        _app = app;
        ApiKey = apiKey;
        _random = new Random(seed);
    }

    public string ApiKey { get; }

    private readonly HashSet<string> _otherKeys = new(StringComparer.Ordinal);

    /// <summary>
    /// Accepts <paramref name="apiKey"/> too, as a multi-tenant POS host gives each shop a key of its own (the many-shops bench: each
    /// shop's calls are a POS connection, and so a circuit, of their own). Balances stay keyed by customer.
    /// </summary>
    public void AddApiKey(string apiKey)
    {
        lock (_gate) _otherKeys.Add(apiKey);
    }

    private bool Accepts(string authorization)
    {
        if (authorization == $"Bearer {ApiKey}") return true;
        if (!authorization.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        lock (_gate) return _otherKeys.Contains(authorization["Bearer ".Length..]);
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>Share of requests (0-1) that get a random fault, drawn from the seeded source.</summary>
    public double FaultRate { get; set; }

    public TimeSpan SlowDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Extra latency on every request (realistic POS round trips for benchmarks).</summary>
    public TimeSpan Latency { get; set; }

    public long Requests => Interlocked.Read(ref _requests);

    /// <summary>The time requests spent in the simulator (from arrival to the end of the answer), for benchmarks.</summary>
    public ServedTime Served { get; } = new();

    public static async Task<PosSimulator> StartAsync(string apiKey = "sandbox-pos-key", int seed = 1, int port = 0, CancellationToken ct = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var simulator = new PosSimulator(app, apiKey, seed);
        simulator.Map(app);
        await app.StartAsync(ct);
        simulator.BaseUrl = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return simulator;
    }

    public void SetBalance(string customerId, long balance)
    {
        lock (_gate) _balances[customerId] = balance;
    }

    /// <summary>Makes <paramref name="customerId"/> known to the POS with no points, unless it is already; true when it was new.</summary>
    public bool EnsureCustomer(string customerId)
    {
        lock (_gate) return _balances.TryAdd(customerId, 0);
    }

    public long? Balance(string customerId)
    {
        lock (_gate) return _balances.TryGetValue(customerId, out var b) ? b : null;
    }

    /// <summary>
    /// The customer spends every point they have at the store's till (the POS's own transaction, which the app never
    /// hears of): the points spent, 0 for a customer with none or unknown to the POS.
    /// </summary>
    public long SpendAllInStore(string customerId, string reference)
    {
        lock (_gate)
        {
            if (!_balances.TryGetValue(customerId, out var balance) || balance <= 0 || _byReference.ContainsKey(reference)) return 0;
            var t = new Transaction($"t_{_transactions.Count + 1}", customerId, reference, -balance, 0, DateTimeOffset.UtcNow);
            _balances[customerId] = 0;
            _byReference[reference] = t;
            _transactions.Add(t);
            return balance;
        }
    }

    public bool HasTransaction(string reference)
    {
        lock (_gate) return _byReference.ContainsKey(reference);
    }

    public IReadOnlyList<Transaction> Transactions()
    {
        lock (_gate) return [.. _transactions];
    }

    /// <summary>
    /// The next <paramref name="count"/> requests get <paramref name="fault"/>; with <paramref name="pathContains"/>
    /// (e.g. <c>/points/deductions</c>) only requests whose path contains it, others pass untouched.
    /// </summary>
    public void FailNext(PosFault fault, int count = 1, string? pathContains = null)
    {
        lock (_gate)
        {
            for (var i = 0; i < count; i++) _nextFaults.Add((fault, pathContains));
        }
    }

    private PosFault? DrawFault(string path)
    {
        lock (_gate)
        {
            var queued = _nextFaults.FindIndex(f => f.Path is null || path.Contains(f.Path, StringComparison.Ordinal));
            if (queued >= 0)
            {
                var fault = _nextFaults[queued].Fault;
                _nextFaults.RemoveAt(queued);
                return fault;
            }
            if (FaultRate <= 0 || _random.NextDouble() >= FaultRate) return null;
            return (PosFault)_random.Next(4);
        }
    }

    private void Map(WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            await next(http);
            Served.Add(started, http.Request.RouteValues.TryGetValue("id", out var customer) ? customer as string : null);
        });
        app.Use(async (http, next) =>
        {
            Interlocked.Increment(ref _requests);
            if (!Accepts(http.Request.Headers.Authorization.ToString()))
            {
                http.Response.StatusCode = StatusCodes.Status401Unauthorized;
                await http.Response.WriteAsJsonAsync(new { error = "unauthorized" });
                return;
            }
            if (Latency > TimeSpan.Zero) await Task.Delay(Latency, http.RequestAborted);
            var fault = DrawFault(http.Request.Path.Value ?? "");
            switch (fault)
            {
                case PosFault.ServerError:
                    http.Response.StatusCode = StatusCodes.Status500InternalServerError;
                    return;
                case PosFault.Throttled:
                    http.Response.StatusCode = StatusCodes.Status429TooManyRequests;
                    http.Response.Headers.RetryAfter = "1";
                    return;
                case PosFault.Slow:
                    await Task.Delay(SlowDelay, http.RequestAborted);
                    break;
            }
            await next(http);
            if (fault == PosFault.AppliedButAnswerLost) http.Abort();
        });

        app.MapGet("/customers/{id}/points", (string id) => Balance(id) is { } balance
            ? Results.Ok(new { customerId = id, balance })
            : Results.NotFound(new { error = "customer_not_found" }));
        app.MapPost("/customers/{id}/points/deductions", (string id, MoveRequest body) => Move(id, body, sign: -1));
        app.MapPost("/customers/{id}/points/additions", (string id, MoveRequest body) => Move(id, body, sign: +1));
        app.MapGet("/transactions/{reference}", (string reference) =>
        {
            lock (_gate)
            {
                return _byReference.TryGetValue(reference, out var t)
                    ? Results.Ok(new { transactionId = t.TransactionId, customerId = t.CustomerId, reference = t.Reference, points = t.Points,
                        createdAt = t.CreatedAt })
                    : Results.NotFound(new { error = "not_found" });
            }
        });
    }

    private sealed record MoveRequest(long Points, string? Reference, string? Note);

    private IResult Move(string customerId, MoveRequest body, int sign)
    {
        if (body.Points <= 0 || body.Reference is null || !ReferencePattern().IsMatch(body.Reference))
        {
            return Results.BadRequest(new { error = "invalid_request" });
        }
        var points = sign * body.Points;
        lock (_gate)
        {
            if (_byReference.TryGetValue(body.Reference, out var earlier))
            {
                return earlier.Points == points && earlier.CustomerId == customerId
                    ? Results.Ok(Body(earlier))
                    : Results.Conflict(new { error = "reference_conflict" });
            }
            if (!_balances.TryGetValue(customerId, out var balance)) return Results.NotFound(new { error = "customer_not_found" });
            if (balance + points < 0) return Results.UnprocessableEntity(new { error = "insufficient_points", balance });

            var t = new Transaction($"t_{_transactions.Count + 1}", customerId, body.Reference, points, balance + points, DateTimeOffset.UtcNow);
            _balances[customerId] = t.Balance;
            _byReference[t.Reference] = t;
            _transactions.Add(t);
            return Results.Created($"/transactions/{t.Reference}", Body(t));
        }
    }

    private static object Body(Transaction t) => new { transactionId = t.TransactionId, reference = t.Reference, points = t.Points,
        balance = t.Balance };

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
