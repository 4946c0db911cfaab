using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loyalty.Sandbox;

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

/// <summary>
/// A stateful Shopify for the operations this app uses, on a real local socket, at <c>{BaseUrl}/{shop}/admin/…</c>
/// (point <c>Shopify:AdminUrlTemplate</c> at <c>{BaseUrl}/{shop}</c>): the token endpoint (token exchange that
/// verifies the session token like Shopify, refresh, code grant) issuing expiring offline tokens, and the GraphQL
/// Admin API operations the app sends — discounts (create, update, deactivate, delete, look up by code, bulk codes),
/// the customer metafield <c>loyalty.coupons</c> with compareDigest, shop details and paid orders — and only those whose
/// document is in <see cref="AdminOperations"/> (validated against Shopify's schema); any other is refused as Shopify
/// refuses an invalid one. Its state is the ground truth for tests and the soak; faults can be queued or drawn at a seeded rate.
/// </summary>
public sealed class ShopifySimulator : IAsyncDisposable
{
    public sealed class Discount
    {
        public required string Id { get; init; }
        public required string Title { get; set; }
        public string Status { get; set; } = "ACTIVE";
        public int? UsageLimit { get; set; }
        public string? EndsAt { get; set; }
        public JsonNode? Input { get; init; }
        public List<string> Codes { get; } = [];

        /// <summary>Orders that used it, counted as Shopify counts <c>asyncUsageCount</c>.</summary>
        public int UsageCount { get; set; }

        /// <summary>Deleted discounts stay in the record (ground truth for orphans), but nothing finds them.</summary>
        public bool Deleted { get; set; }

        public DateTimeOffset CreatedAt { get; init; } = DateTimeOffset.UtcNow;
    }

    private sealed record PaidOrder(long Id, DateTimeOffset UpdatedAt, object Node);

    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly string _clientId;
    private readonly string _clientSecret;
    private readonly Dictionary<string, Discount> _discounts = [];
    private readonly Dictionary<string, string> _codeIndex = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, (string Value, string Digest)> _metafields = [];
    private readonly Dictionary<string, (string Shop, DateTimeOffset Expires)> _accessTokens = [];
    private readonly Dictionary<string, string> _refreshTokens = [];
    private readonly Dictionary<string, List<JsonObject>> _bulkFailures = [];
    private readonly List<PaidOrder> _paidOrders = [];
    private readonly HashSet<string> _creating = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentQueue<ShopifyFault> _nextFaults = new();
    private readonly Random _random;
    private long _ids = 1000;

    private ShopifySimulator(WebApplication app, string clientId, string clientSecret, int seed)
    {
        _app = app;
        _clientId = clientId;
        _clientSecret = clientSecret;
        _random = new Random(seed);
    }

    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>For <c>Shopify:AdminUrlTemplate</c>.</summary>
    public string AdminUrlTemplate => BaseUrl.ToString().TrimEnd('/') + "/{shop}";

    public int AccessTokenSeconds { get; set; } = 3600;

    public double FaultRate { get; set; }

    public TimeSpan Latency { get; set; }

    /// <summary>How long a coupon creation takes before it is applied and answered (on top of <see cref="Latency"/>).</summary>
    public TimeSpan CreateLatency { get; set; }

    /// <summary>A GraphQL request as it arrived (authenticated), and whether its document is one the simulator answers.</summary>
    public sealed record ReceivedOperation(string Shop, string Document, string VariablesJson, bool Allowed);

    /// <summary>Runs for every authenticated GraphQL request, before any fault (tests record what the app sends).</summary>
    public Action<ReceivedOperation>? OnOperation { get; set; }

    /// <summary>Runs with a mutation's operation name just before Shopify would apply it (tests: what happens meanwhile).</summary>
    public Action<string>? BeforeMutation { get; set; }

    /// <summary>A test's fault for a mutation by its operation name (e.g. <c>SetLoyaltyCoupons</c>), or null for none.</summary>
    public Func<string, ShopifyFault?>? FaultForMutation { get; set; }

    /// <summary>How long after its 500 an <see cref="ShopifyFault.AppliedLate"/> call is applied.</summary>
    public TimeSpan LateApplyDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Shopify's cost-based GraphQL throttle, per shop: a bucket of <see cref="BucketSize"/> points refilled at
    /// <see cref="RestoreRate"/> per second; a query costs <see cref="QueryCost"/> and is answered THROTTLED when the
    /// bucket cannot cover it. Off by default (0).
    /// </summary>
    public double BucketSize { get; set; }

    public double RestoreRate { get; set; } = 100;

    public double QueryCost { get; set; } = 10;

    /// <summary>GraphQL requests answered, and how many of them were THROTTLED by the bucket.</summary>
    public long Requests => Interlocked.Read(ref _requests);

    public long BucketThrottled => Interlocked.Read(ref _bucketThrottled);

    private long _requests;
    private long _bucketThrottled;
    private readonly Dictionary<string, (double Available, long At)> _buckets = [];

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

    public static async Task<ShopifySimulator> StartAsync(string clientId, string clientSecret, int seed = 1, int port = 0, CancellationToken ct = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var simulator = new ShopifySimulator(app, clientId, clientSecret, seed);
        simulator.Map(app);
        await app.StartAsync(ct);
        simulator.BaseUrl = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return simulator;
    }

    /// <summary>A coupon creation for one customer held on its way in: <see cref="Arrived"/> when it is, answered after <see cref="Release"/>.</summary>
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

    public void FailNext(ShopifyFault fault, int count = 1)
    {
        for (var i = 0; i < count; i++) _nextFaults.Enqueue(fault);
    }

    /// <summary>The live discounts.</summary>
    public IReadOnlyList<Discount> Discounts()
    {
        lock (_gate) return [.. _discounts.Values.Where(d => !d.Deleted)];
    }

    /// <summary>Every discount ever created, deleted ones included.</summary>
    public IReadOnlyList<Discount> AllDiscounts()
    {
        lock (_gate) return [.. _discounts.Values];
    }

    /// <summary>
    /// An order pays with <paramref name="code"/>, as checkout would allow it: the discount is live, not past its usage
    /// limit, and open to <paramref name="customerId"/>. Counts the use and returns true; false when checkout would refuse.
    /// </summary>
    public bool Redeem(string code, long customerId)
    {
        lock (_gate)
        {
            if (!_codeIndex.TryGetValue(code, out var id) || _discounts[id] is not { Deleted: false, Status: "ACTIVE" } d) return false;
            if (d.UsageLimit is { } limit && d.UsageCount >= limit) return false;
            var customers = d.Input?["context"]?["customers"]?["add"]?.AsArray().Select(n => n!.GetValue<string>()).ToList();
            if (customers is { Count: > 0 } && !customers.Contains($"gid://shopify/Customer/{customerId}")) return false;
            d.UsageCount++;
            return true;
        }
    }

    public Discount? DiscountWithCode(string code)
    {
        lock (_gate) return _codeIndex.TryGetValue(code, out var id) && !_discounts[id].Deleted ? _discounts[id] : null;
    }

    public string? CouponsMetafield(long customerId)
    {
        lock (_gate) return _metafields.TryGetValue($"gid://shopify/Customer/{customerId}", out var m) ? m.Value : null;
    }

    /// <summary>
    /// A paid order the missed-order sweep will find (as if its webhook never arrived), last updated at
    /// <paramref name="updatedAt"/> (now by default), with the discount codes it used.
    /// </summary>
    public void AddPaidOrder(long id, long? customerId, decimal subtotal, decimal total, string currency = "EUR", DateTimeOffset? updatedAt = null,
        IReadOnlyList<string>? discountCodes = null)
    {
        string M(decimal v) => v.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
        var at = updatedAt ?? DateTimeOffset.UtcNow;
        lock (_gate)
        {
            _paidOrders.Add(new PaidOrder(id, at, new
            {
                legacyResourceId = id.ToString(System.Globalization.CultureInfo.InvariantCulture), name = $"#{id}", test = false, cancelledAt = (string?)null,
                updatedAt = at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                discountCodes = discountCodes ?? [],
                customer = customerId is null ? null : new { legacyResourceId = customerId.Value.ToString(System.Globalization.CultureInfo.InvariantCulture) },
                subtotalPriceSet = new { shopMoney = new { amount = M(subtotal), currencyCode = currency } },
                totalPriceSet = new { shopMoney = new { amount = M(total), currencyCode = currency }, presentmentMoney = new { amount = M(total), currencyCode = currency } },
            }));
        }
    }

    /// <summary>
    /// <c>codeDiscountNodes(first, after, query)</c>: live discounts, oldest first; a <c>title:'…'</c> term of the query
    /// keeps those whose title contains the phrase. The cursor names the last discount of the page.
    /// </summary>
    private object DiscountsPage(JsonObject v)
    {
        var match = System.Text.RegularExpressions.Regex.Match(v["query"]?.GetValue<string>() ?? "", @"title:'([^']*)'");
        var first = v["first"]?.GetValue<int>() ?? 50;
        static long Number(string gid) => long.Parse(gid[(gid.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var after = v["after"]?.GetValue<string>() is { } cursor ? Number(cursor) : 0; // still valid when that discount is deleted meanwhile
        var live = _discounts.Values.Where(d => !d.Deleted && (!match.Success || d.Title.Contains(match.Groups[1].Value, StringComparison.OrdinalIgnoreCase)))
            .OrderBy(d => Number(d.Id)).ToList();
        var start = live.FindIndex(d => Number(d.Id) > after);
        if (start < 0) start = live.Count;
        var page = live.Skip(start).Take(first).ToList();
        return new
        {
            codeDiscountNodes = new
            {
                pageInfo = new { hasNextPage = start + page.Count < live.Count, endCursor = page.Count > 0 ? page[^1].Id : null },
                nodes = page.Select(d => new
                {
                    id = d.Id,
                    codeDiscount = new { title = d.Title, status = d.Status, asyncUsageCount = d.UsageCount, codes = new { nodes = d.Codes.Take(1).Select(c => new { code = c }) } },
                }),
            },
        };
    }

    /// <summary>
    /// <c>orders(first, after, query, sortKey: UPDATED_AT)</c> as Shopify answers it: the <c>updated_at:&gt;'…'</c> term of
    /// the search is honoured, <c>&gt;=</c> too (the financial status terms are, trivially: every order here is paid), oldest update first,
    /// <c>first</c> per page, the cursor naming the last order of the page.
    /// </summary>
    private object OrdersPage(JsonObject v)
    {
        var query = v["query"]?.GetValue<string>() ?? "";
        var match = System.Text.RegularExpressions.Regex.Match(query, @"updated_at:(>=?)'([^']+)'");
        var since = match.Success ? DateTimeOffset.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) : DateTimeOffset.MinValue;
        var inclusive = match.Success && match.Groups[1].Value == ">=";
        var first = v["first"]?.GetValue<int>() ?? 50;
        // Shopify's search compares whole seconds.
        var ordered = _paidOrders.Where(o => inclusive ? o.UpdatedAt.ToUnixTimeSeconds() >= since.ToUnixTimeSeconds() : o.UpdatedAt.ToUnixTimeSeconds() > since.ToUnixTimeSeconds())
            .OrderBy(o => o.UpdatedAt).ThenBy(o => o.Id).ToList();
        var after = v["after"]?.GetValue<string>();
        var start = after is null ? 0 : ordered.FindIndex(o => o.Id.ToString(System.Globalization.CultureInfo.InvariantCulture) == after) + 1;
        var page = ordered.Skip(start).Take(first).ToList();
        var hasNext = start + page.Count < ordered.Count;
        return new
        {
            orders = new
            {
                pageInfo = new { hasNextPage = hasNext, endCursor = page.Count > 0 ? page[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) : null },
                nodes = page.Select(o => o.Node).ToArray(),
            },
        };
    }

    private ShopifyFault? DrawFault()
    {
        if (_nextFaults.TryDequeue(out var queued)) return queued;
        lock (_gate) return FaultRate > 0 && _random.NextDouble() < FaultRate ? (ShopifyFault)_random.Next(3) : null;
    }

    private void Map(WebApplication app)
    {
        app.MapPost("/{shop}/admin/oauth/access_token", async (string shop, HttpContext http) =>
        {
            var form = await http.Request.ReadFormAsync();
            if (form["client_id"] != _clientId || form["client_secret"] != _clientSecret) return Results.BadRequest(new { error = "invalid_client" });
            switch (form["grant_type"].ToString())
            {
                case "urn:ietf:params:oauth:grant-type:token-exchange":
                    return IsValidSessionToken(form["subject_token"].ToString(), shop) ? Results.Ok(Issue(shop)) : Results.BadRequest(new { error = "invalid_subject_token" });
                case "refresh_token":
                    lock (_gate)
                    {
                        if (!_refreshTokens.Remove(form["refresh_token"].ToString(), out var owner) || owner != shop) return Results.BadRequest(new { error = "invalid_grant" });
                    }
                    return Results.Ok(Issue(shop));
                default:
                    return form["code"].Count == 1 ? Results.Ok(Issue(shop)) : Results.BadRequest(new { error = "unsupported_grant_type" });
            }
        });

        app.MapPost("/{shop}/admin/api/{version}/graphql.json", async (string shop, HttpContext http) =>
        {
            if (Latency > TimeSpan.Zero) await Task.Delay(Latency, http.RequestAborted);
            lock (_gate)
            {
                var token = http.Request.Headers["X-Shopify-Access-Token"].ToString();
                if (!_accessTokens.TryGetValue(token, out var t) || t.Shop != shop || t.Expires < DateTimeOffset.UtcNow)
                {
                    return Results.Json(new { errors = "[API] Invalid API key or access token (unrecognized login or wrong password)" }, statusCode: 401);
                }
            }
            Interlocked.Increment(ref _requests);
            var request = await JsonNode.ParseAsync(http.Request.Body) ?? new JsonObject();
            var document = request["query"]?.GetValue<string>() ?? "";
            var variables = request["variables"] as JsonObject ?? new JsonObject();
            var allowed = AdminOperations.Bundled.Allows(document);
            OnOperation?.Invoke(new ReceivedOperation(shop, document, variables.ToJsonString(), allowed));
            if (!allowed)
            {
                // As Shopify answers a document that does not validate: HTTP 200, an errors array, nothing done.
                return Results.Json(new
                {
                    errors = new[]
                    {
                        new
                        {
                            message = $"The Shopify simulator answers only documents validated against the Admin API {AdminOperations.Bundled.ApiVersion} " +
                                      "schema (Loyalty.Sandbox/admin-operations.json); this one is not among them.",
                            extensions = new { code = "UNVALIDATED_OPERATION" },
                        },
                    },
                });
            }
            if (!TryTake(shop, out var bucket))
            {
                Interlocked.Increment(ref _bucketThrottled);
                return Results.Json(new
                {
                    errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
                    extensions = new { cost = new { requestedQueryCost = QueryCost, actualQueryCost = (double?)null, throttleStatus = new { maximumAvailable = BucketSize, currentlyAvailable = bucket, restoreRate = RestoreRate } } },
                });
            }
            var fault = DrawFault();
            if (fault == ShopifyFault.ServerError) return Results.StatusCode(500);
            if (fault == ShopifyFault.Throttled)
            {
                return Results.Json(new
                {
                    errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
                    extensions = new { cost = new { requestedQueryCost = 10, actualQueryCost = (int?)null, throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 5, restoreRate = 100.0 } } },
                });
            }
            if (fault is null && FaultForMutation is { } pick && System.Text.RegularExpressions.Regex.Match(document, @"mutation\s+(\w+)") is { Success: true } named)
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
                            userErrors = new[] { new { field = new[] { "basicCodeDiscount", "code" }, code = "TAKEN", message = "Code must be unique." } } } } });
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
                : Results.Json(new { data, extensions = new { cost = new { requestedQueryCost = QueryCost, actualQueryCost = QueryCost, throttleStatus = BucketSize > 0
                    ? new { maximumAvailable = BucketSize, currentlyAvailable = bucket, restoreRate = RestoreRate }
                    : new { maximumAvailable = 2000.0, currentlyAvailable = 1990.0, restoreRate = 100.0 } } } });
        });
    }

    private object Issue(string shop)
    {
        var access = "shpat_sim_" + Guid.NewGuid().ToString("N");
        var refresh = "shprt_sim_" + Guid.NewGuid().ToString("N");
        lock (_gate)
        {
            _accessTokens[access] = (shop, DateTimeOffset.UtcNow.AddSeconds(AccessTokenSeconds));
            _refreshTokens[refresh] = shop;
        }
        return new
        {
            access_token = access, scope = "read_orders,write_customers,write_discounts,write_app_proxy", expires_in = AccessTokenSeconds,
            refresh_token = refresh, refresh_token_expires_in = 7776000,
        };
    }

    /// <summary>HS256 with the client secret, this app as audience, dest naming the shop, not expired.</summary>
    private bool IsValidSessionToken(string jwt, string shop)
    {
        var parts = jwt.Split('.');
        if (parts.Length != 3) return false;
        var expected = Convert.ToBase64String(HMACSHA256.HashData(Encoding.UTF8.GetBytes(_clientSecret), Encoding.UTF8.GetBytes($"{parts[0]}.{parts[1]}")))
            .TrimEnd('=').Replace('+', '-').Replace('/', '_');
        if (!CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(expected), Encoding.ASCII.GetBytes(parts[2]))) return false;
        var padded = parts[1].Replace('-', '+').Replace('_', '/');
        var payload = JsonNode.Parse(Convert.FromBase64String(padded.PadRight(padded.Length + (4 - padded.Length % 4) % 4, '=')))!;
        return payload["aud"]?.GetValue<string>() == _clientId && payload["dest"]?.GetValue<string>() == $"https://{shop}"
               && payload["exp"]?.GetValue<long>() > DateTimeOffset.UtcNow.ToUnixTimeSeconds() - 10;
    }

    private object? Execute(string shop, string query, JsonObject v)
    {
        lock (_gate)
        {
            string NewId(string type) => $"gid://shopify/{type}/{++_ids}";
            object Errors(params (string Code, string Message)[] errors) => errors.Select(e => new { field = Array.Empty<string>(), code = e.Code, message = e.Message }).ToArray();

            bool Is(string operation) => query.Contains(operation + " ", StringComparison.Ordinal) || query.Contains(operation + "(", StringComparison.Ordinal)
                                          || query.Contains(operation + "{", StringComparison.Ordinal);

            if (Is("query ShopDetails"))
            {
                return new { shop = new { name = shop.Split('.')[0], currencyCode = "EUR", ianaTimezone = "Europe/Berlin" } };
            }
            if (Is("mutation CreateLoyaltyCode"))
            {
                var input = v["input"]!;
                var code = input["code"]!.GetValue<string>();
                if (_codeIndex.ContainsKey(code) || _creating.Contains(code) && CreateLatency == TimeSpan.Zero)
                {
                    return new { discountCodeBasicCreate = new { codeDiscountNode = (object?)null, userErrors = Errors(("TAKEN", "Code must be unique.")) } };
                }
                var d = new Discount
                {
                    Id = NewId("DiscountCodeNode"), CreatedAt = DateTimeOffset.UtcNow, Title = input["title"]!.GetValue<string>(), Input = input.DeepClone(),
                    UsageLimit = input["usageLimit"]?.GetValue<int?>(), EndsAt = input["endsAt"]?.GetValue<string>(),
                };
                d.Codes.Add(code);
                _discounts[d.Id] = d;
                _codeIndex[code] = d.Id;
                return new { discountCodeBasicCreate = new { codeDiscountNode = new { id = d.Id }, userErrors = Array.Empty<object>() } };
            }
            if (Is("mutation DeleteLoyaltyCode"))
            {
                var id = v["id"]!.GetValue<string>();
                if (!_discounts.TryGetValue(id, out var d) || d.Deleted)
                {
                    return new { discountCodeDelete = new { deletedCodeDiscountId = (string?)null, userErrors = Errors(("INVALID", "Discount does not exist")) } };
                }
                d.Deleted = true;
                foreach (var c in d.Codes) _codeIndex.Remove(c);
                return new { discountCodeDelete = new { deletedCodeDiscountId = (string?)id, userErrors = Array.Empty<object>() } };
            }
            if (Is("query FindLoyaltyCode"))
            {
                return _codeIndex.TryGetValue(v["code"]!.GetValue<string>(), out var id) && _discounts[id] is { Deleted: false } d
                    ? new { codeDiscountNodeByCode = (object?)new { id, codeDiscount = new { title = d.Title, status = d.Status, asyncUsageCount = d.UsageCount, usageLimit = d.UsageLimit } } }
                    : new { codeDiscountNodeByCode = (object?)null };
            }
            if (Is("query LoyaltyCoupons"))
            {
                return _metafields.TryGetValue(v["id"]!.GetValue<string>(), out var m)
                    ? new { customer = new { metafield = (object?)new { value = m.Value, compareDigest = m.Digest } } }
                    : new { customer = new { metafield = (object?)null } };
            }
            if (Is("mutation SetLoyaltyCoupons"))
            {
                var m = v["metafields"]![0]!;
                var owner = m["ownerId"]!.GetValue<string>();
                var digest = m["compareDigest"]?.GetValue<string>();
                var current = _metafields.TryGetValue(owner, out var existing) ? existing.Digest : null;
                if (digest != current)
                {
                    return new { metafieldsSet = new { metafields = Array.Empty<object>(), userErrors = Errors(("STALE_OBJECT", "The resource has been updated since it was loaded.")) } };
                }
                var value = m["value"]!.GetValue<string>();
                _metafields[owner] = (value, Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(value))));
                return new { metafieldsSet = new { metafields = new[] { new { id = NewId("Metafield") } }, userErrors = Array.Empty<object>() } };
            }
            if (Is("mutation AddCampaignCodes"))
            {
                var d = _discounts[v["discountId"]!.GetValue<string>()];
                var bulkId = NewId("DiscountRedeemCodeBulkCreation");
                var failures = new List<JsonObject>();
                foreach (var node in v["codes"]!.AsArray())
                {
                    var code = node!["code"]!.GetValue<string>();
                    if (_codeIndex.ContainsKey(code))
                    {
                        failures.Add(new JsonObject { ["code"] = code, ["errors"] = new JsonArray(new JsonObject { ["code"] = "TAKEN", ["message"] = "Code must be unique." }) });
                        continue;
                    }
                    d.Codes.Add(code);
                    _codeIndex[code] = d.Id;
                }
                _bulkFailures[bulkId] = failures;
                return new { discountRedeemCodeBulkAdd = new { bulkCreation = new { id = bulkId }, userErrors = Array.Empty<object>() } };
            }
            if (Is("query CampaignCodesStatus"))
            {
                var failures = _bulkFailures[v["id"]!.GetValue<string>()];
                return new
                {
                    discountRedeemCodeBulkCreation = new
                    {
                        done = true, importedCount = 0, failedCount = failures.Count,
                        codes = new { pageInfo = new { hasNextPage = false, endCursor = (string?)null }, nodes = failures },
                    },
                };
            }
            if (Is("mutation UpdateCampaign"))
            {
                var d = _discounts[v["id"]!.GetValue<string>()];
                d.Title = v["input"]!["title"]?.GetValue<string>() ?? d.Title;
                d.UsageLimit = v["input"]!["usageLimit"]?.GetValue<int?>();
                d.EndsAt = v["input"]!["endsAt"]?.GetValue<string>();
                return new { discountCodeBasicUpdate = new { codeDiscountNode = new { id = d.Id }, userErrors = Array.Empty<object>() } };
            }
            if (Is("mutation DeactivateCampaign"))
            {
                if (!_discounts.TryGetValue(v["id"]!.GetValue<string>(), out var gone) || gone.Deleted)
                {
                    return new { discountCodeDeactivate = new { codeDiscountNode = (object?)null, userErrors = Errors(("INVALID", "Discount does not exist")) } };
                }
                _discounts[v["id"]!.GetValue<string>()].Status = "EXPIRED";
                return new { discountCodeDeactivate = new { codeDiscountNode = new { id = v["id"]!.GetValue<string>() }, userErrors = Array.Empty<object>() } };
            }
            if (Is("query PaidOrders")) return OrdersPage(v);
            if (Is("query LoyaltyDiscounts")) return DiscountsPage(v);
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>
    /// Tampering for the soak's broken variants: deletes the live discount with <paramref name="code"/> as someone outside
    /// the app would (it stays in <see cref="AllDiscounts"/>, deleted). False when no live discount has the code.
    /// </summary>
    public bool DeleteDiscountWithCode(string code)
    {
        lock (_gate)
        {
            if (!_codeIndex.TryGetValue(code, out var id) || _discounts[id].Deleted) return false;
            var d = _discounts[id];
            d.Deleted = true;
            foreach (var c in d.Codes) _codeIndex.Remove(c);
            return true;
        }
    }

    /// <summary>
    /// Tampering for the soak's broken variants: a second live discount with the same title and input as the one with
    /// <paramref name="code"/>, under <paramref name="newCode"/>, as a driver without a fence could leave behind. Null when
    /// there is no live discount with <paramref name="code"/> or <paramref name="newCode"/> is taken.
    /// </summary>
    public Discount? DuplicateDiscount(string code, string newCode)
    {
        lock (_gate)
        {
            if (!_codeIndex.TryGetValue(code, out var id) || _discounts[id] is not { Deleted: false } original || _codeIndex.ContainsKey(newCode)) return null;
            var copy = new Discount
            {
                Id = $"gid://shopify/DiscountCodeNode/{++_ids}", Title = original.Title, Input = original.Input?.DeepClone(),
                UsageLimit = original.UsageLimit, EndsAt = original.EndsAt,
            };
            copy.Codes.Add(newCode);
            _discounts[copy.Id] = copy;
            _codeIndex[newCode] = copy.Id;
            return copy;
        }
    }
}
