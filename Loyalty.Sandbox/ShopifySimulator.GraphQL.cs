using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Http;

namespace Loyalty.Sandbox;

/// <summary>
/// The GraphQL endpoint as Shopify runs it: the access token, the allow-list of validated documents, the cost bucket,
/// the faults, then the operation's handler from the table; and the small helpers the handlers share.
/// </summary>
public sealed partial class ShopifySimulator
{
    [GeneratedRegex(@"gid://shopify/Customer/(\d+)")]
    private static partial Regex CustomerGid();

    private async Task<IResult> GraphQLAsync(string shop, HttpContext http)
    {
        if (Latency > TimeSpan.Zero) await Task.Delay(Latency, http.RequestAborted);
        lock (_gate)
        {
            var token = http.Request.Headers["X-Shopify-Access-Token"].ToString();
            if (!_accessTokens.TryGetValue(token, out var t) || t.Shop != shop || t.Expires < DateTimeOffset.UtcNow)
            {
                if (t.Shop == shop) CountExpiredToken(shop); // a token of this shop, past its expiry: refreshed too late
                return Results.Json(new { errors = "[API] Invalid API key or access token (unrecognized login or wrong password)" }, statusCode: 401);
            }
        }
        Interlocked.Increment(ref _requests);
        CountRequest(shop);
        var request = await JsonNode.ParseAsync(http.Request.Body) ?? new JsonObject();
        var document = request["query"]?.GetValue<string>() ?? "";
        var variables = request["variables"] as JsonObject ?? new JsonObject();
        var allowed = AdminOperations.Bundled.Allows(document);
        var variablesJson = variables.ToJsonString();
        OnOperation?.Invoke(new ReceivedOperation(shop, document, variablesJson, allowed));
        if (CustomerGid().Match(variablesJson) is { Success: true } customer) http.Items[ServedTime.CustomerItem] = customer.Groups[1].Value;
        if (!allowed)
        {
            // As Shopify answers a document that does not validate: HTTP 200, an errors array, nothing done.
            return Results.Json(new
            {
                errors = new[]
                {
                    new
                    {
                        message = $"The Shopify simulator answers only documents validated against the Admin API " +
                            $"{AdminOperations.Bundled.ApiVersion} " +
                                  "schema (Loyalty.Sandbox/admin-operations.json); this one is not among them.",
                        extensions = new { code = "UNVALIDATED_OPERATION" },
                    },
                },
            });
        }
        if (!TryTake(shop, out var bucket))
        {
            Interlocked.Increment(ref _bucketThrottled);
            CountThrottled(shop);
            return Results.Json(new
            {
                errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
                extensions = new { cost = new { requestedQueryCost = QueryCost, actualQueryCost = (double?)null,
                    throttleStatus = new { maximumAvailable = BucketSize, currentlyAvailable = bucket, restoreRate = RestoreRate } } },
            });
        }
        var fault = DrawFault();
        if (fault == ShopifyFault.ServerError) return Results.StatusCode(500);
        if (fault == ShopifyFault.Throttled)
        {
            return Results.Json(new
            {
                errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
                extensions = new { cost = new { requestedQueryCost = 10, actualQueryCost = (int?)null,
                    throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 5, restoreRate = 100.0 } } },
            });
        }
        if (fault is null && FaultForMutation is { } pick && System.Text.RegularExpressions.Regex.Match(document,
            @"mutation\s+(\w+)") is { Success: true } named)
        {
            fault = pick(named.Groups[1].Value); // a test's fault for one operation, e.g. a metafield write applied late
        }
        if (fault == ShopifyFault.AppliedLate)
        {
            _ = Task.Delay(LateApplyDelay).ContinueWith(_ => Execute(shop, document, variables), TaskScheduler.Default);
            return Results.StatusCode(500);
        }
        if (BeforeMutation is { } before && System.Text.RegularExpressions.Regex.Match(document, @"mutation\s+(\w+)") is { Success: true } op)
        {
            before(op.Groups[1].Value); // a test's "meanwhile", e.g. a checkout landing just before a deletion
        }
        if (document.Contains("mutation CreateLoyaltyCode", StringComparison.Ordinal) && HeldCreation(variables) is { } hold)
        {
            hold.Arrived.TrySetResult();
            await Task.WhenAny(hold.Released.Task, Task.Delay(TimeSpan.FromMinutes(1))); // never held for good
        }
        object? data;
        if (CreateLatency > TimeSpan.Zero && document.Contains("mutation CreateLoyaltyCode", StringComparison.Ordinal))
        {
            // A slow creation holds its code from the start (a second creation of it is TAKEN at once), is invisible to
            // lookups until it commits, and commits even when the caller gave up, as Shopify would.
            var code = variables["input"]?["code"]?.GetValue<string>() ?? "";
            lock (_gate)
            {
                if (_codeIndex.ContainsKey(code) || !_creating.Add(code))
                {
                    return Results.Json(new { data = new { discountCodeBasicCreate = new { codeDiscountNode = (object?)null,
                        userErrors = new[] { new { field = TakenCodeField, code = "TAKEN", message = "Code must be unique." } } } } });
                }
            }
            await Task.Delay(CreateLatency, CancellationToken.None);
            lock (_gate)
            {
                _creating.Remove(code);
                data = Execute(shop, document, variables);
            }
        }
        else
        {
            data = Execute(shop, document, variables);
        }
        if (fault == ShopifyFault.AppliedButAnswerLost)
        {
            http.Abort();
            return Results.Empty;
        }
        return data is null
            ? Results.Json(new { errors = new[] { new { message = "Unknown operation", extensions = new { code = "UNKNOWN" } } } })
            : Results.Json(new { data, extensions = new { cost = new { requestedQueryCost = QueryCost, actualQueryCost = QueryCost,
                throttleStatus = BucketSize > 0
                ? new { maximumAvailable = BucketSize, currentlyAvailable = bucket, restoreRate = RestoreRate }
                : new { maximumAvailable = 2000.0, currentlyAvailable = 1990.0, restoreRate = 100.0 } } } });
    }

    private object? Execute(string shop, string document, JsonObject variables)
    {
        lock (_gate)
        {
            foreach (var (operation, handle) in _operations)
            {
                if (Declares(document, operation)) return handle(shop, variables);
            }
            return null;
        }
    }

    private static bool Declares(string document, string operation) =>
        document.Contains(operation + " ", StringComparison.Ordinal) || document.Contains(operation + "(", StringComparison.Ordinal)
        || document.Contains(operation + "{", StringComparison.Ordinal);

    /// <summary>A new id of <paramref name="type"/>; called under the gate.</summary>
    private string NewId(string type) => $"gid://shopify/{type}/{++_ids}";

    private static readonly string[] TakenCodeField = ["basicCodeDiscount", "code"];

    private static object Errors(params (string Code, string Message)[] errors) =>
        errors.Select(e => new { field = Array.Empty<string>(), code = e.Code, message = e.Message }).ToArray();

    /// <summary>Takes the query's cost from the shop's bucket; false (and what is left) when it cannot.</summary>
    private bool TryTake(string shop, out double available)
    {
        available = BucketSize;
        if (BucketSize <= 0) return true;
        lock (_gate)
        {
            var now = System.Diagnostics.Stopwatch.GetTimestamp();
            var (left, at) = _buckets.TryGetValue(shop, out var b) ? b : (BucketSize, now);
            left = Math.Min(BucketSize, left + RestoreRate * System.Diagnostics.Stopwatch.GetElapsedTime(at, now).TotalSeconds);
            var ok = left >= QueryCost;
            if (ok) left -= QueryCost;
            _buckets[shop] = (left, now);
            available = left;
            return ok;
        }
    }

    private ShopifyFault? DrawFault()
    {
        if (_nextFaults.TryDequeue(out var queued)) return queued;
        lock (_gate) return FaultRate > 0 && _random.NextDouble() < FaultRate ? (ShopifyFault)_random.Next(3) : null;
    }

    /// <summary>A coupon creation for one customer held on its way in: <see cref="Arrived"/> when it is, answered after <see
    /// cref="Release"/>.</summary>
    public sealed class CreationHold(long customerId)
    {
        public long CustomerId { get; } = customerId;
        public TaskCompletionSource Arrived { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        internal TaskCompletionSource Released { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public void Release() => Released.TrySetResult();
    }

    private readonly List<CreationHold> _holds = [];

    /// <summary>Holds the next coupon creation for <paramref name="customerId"/> until released (a slow Shopify, on cue).</summary>
    public CreationHold HoldNextCreationFor(long customerId)
    {
        var hold = new CreationHold(customerId);
        lock (_gate) _holds.Add(hold);
        return hold;
    }

    private CreationHold? HeldCreation(JsonObject variables)
    {
        var customers = (variables["input"]?["context"]?["customers"]?["add"] as JsonArray)?.Select(n => n?.GetValue<string>()).ToList() ?? [];
        lock (_gate)
        {
            _holds.RemoveAll(h => h.Released.Task.IsCompleted); // released before their creation came: nothing to hold
            var hold = _holds.FirstOrDefault(h => customers.Contains($"gid://shopify/Customer/{h.CustomerId}"));
            if (hold is not null) _holds.Remove(hold);
            return hold;
        }
    }
}
