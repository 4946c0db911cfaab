using System.Diagnostics;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Loyalty.Sandbox;

/// <summary>
/// A stateful Shopify for the operations this app uses, on a real local socket, at <c>{BaseUrl}/{shop}/admin/…</c>
/// (point <c>Shopify:AdminUrlTemplate</c> at <c>{BaseUrl}/{shop}</c>): the token endpoint (token exchange that
/// verifies the session token like Shopify, refresh, code grant) issuing expiring offline tokens, and the GraphQL
/// Admin API operations the app sends — discounts (create, update, deactivate, delete, look up by code, bulk codes),
/// the customer metafield <c>loyalty.coupons</c> with compareDigest, shop details and paid orders — and only those whose
/// document is in <see cref="AdminOperations"/> (validated against Shopify's schema); any other is refused as Shopify
/// refuses an invalid one. Its state is the ground truth for tests and the soak; faults can be queued or drawn at a seeded rate.
/// The operations it answers are a table (<see cref="_operations"/>) of handlers kept beside their state: discounts,
/// the coupons metafield, orders and shop, tokens, each in its own file.
/// </summary>
public sealed partial class ShopifySimulator : IAsyncDisposable
{
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
    private readonly Dictionary<string, List<PaidOrder>> _paidOrders = []; // by shop ("": every shop's)
    private readonly HashSet<string> _creating = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentQueue<ShopifyFault> _nextFaults = new();
    private readonly Random _random;
    private long _ids = 1000;

    /// <summary>
    /// The GraphQL operations answered, each by the operation its document declares (<c>query ShopDetails</c>), in the
    /// order they are looked for; a handler runs under the gate and returns the answer's <c>data</c>.
    /// </summary>
    private readonly (string Operation, Func<string, JsonObject, object> Handle)[] _operations;

    private ShopifySimulator(WebApplication app, string clientId, string clientSecret, int seed)
    {
        _app = app;
        _clientId = clientId;
        _clientSecret = clientSecret;
        _random = new Random(seed);
        _operations =
        [
            ("query ShopDetails", ShopDetails),
            ("mutation CreateLoyaltyCode", CreateLoyaltyCode),
            ("mutation DeleteLoyaltyCode", DeleteLoyaltyCode),
            ("query FindLoyaltyCode", FindLoyaltyCode),
            ("query LoyaltyCoupons", LoyaltyCoupons),
            ("mutation SetLoyaltyCoupons", SetLoyaltyCoupons),
            ("mutation AddCampaignCodes", AddCampaignCodes),
            ("query CampaignCodesStatus", CampaignCodesStatus),
            ("mutation UpdateCampaign", UpdateCampaign),
            ("mutation DeactivateCampaign", DeactivateCampaign),
            ("query PaidOrders", OrdersPage),
            ("query LoyaltyDiscounts", (_, v) => DiscountsPage(v)),
            ("mutation FlowTriggerReceive", FlowTriggerReceive),
            ("mutation TagsAdd", TagsAdd),
            ("mutation TagsRemove", TagsRemove),
            ("query FindTierSegment", SegmentsPage),
            ("query TierSegmentState", SegmentById),
            ("mutation CreateTierSegment", CreateSegment),
            ("mutation UpdateTierSegment", UpdateSegment),
        ];
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

    /// <summary>The time requests spent in the simulator (from arrival to the end of the answer), for benchmarks.</summary>
    public ServedTime Served { get; } = new();

    private long _requests;
    private long _bucketThrottled;
    private readonly Dictionary<string, (double Available, long At)> _buckets = [];

    public static async Task<ShopifySimulator> StartAsync(string clientId, string clientSecret, int seed = 1, int port = 0,
        CancellationToken ct = default)
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

    public void FailNext(ShopifyFault fault, int count = 1)
    {
        for (var i = 0; i < count; i++) _nextFaults.Enqueue(fault);
    }

    private void Map(WebApplication app)
    {
        app.Use(async (http, next) =>
        {
            var started = Stopwatch.GetTimestamp();
            await next(http);
            Served.Add(started, http.Items[ServedTime.CustomerItem] as string);
        });
        app.MapPost("/{shop}/admin/oauth/access_token", AccessTokenAsync);
        app.MapPost("/{shop}/admin/api/{version}/graphql.json", GraphQLAsync);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
