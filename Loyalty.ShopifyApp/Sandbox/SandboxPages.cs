using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Pending;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// The sandbox's own pages, mapped only when the app runs as a sandbox (never in a real deployment):
/// <c>/</c> the home page; <c>/sandbox/storefront/apps/loyalty/*</c> a storefront emulator that forwards to
/// <c>/proxy/*</c> over HTTP with the query signed exactly as Shopify's app proxy signs it (so the real
/// verification runs) and renders Liquid answers in a plain layout (<c>/sandbox/storefront/ja/apps/loyalty/*</c> is the
/// storefront in Japanese, as a shop's <c>/ja/</c> URLs are); <c>/sandbox/orders</c> sends a signed
/// <c>orders/paid</c> webhook to <c>/webhooks</c>; <c>/sandbox/faults</c> changes what the simulators do; <c>/sandbox/clock</c>
/// moves the points program's time ahead; <c>/sandbox/flow</c> turns the demo shop's Shopify Flow workflows on and off;
/// <c>/sandbox/session-token</c> gives the embedded admin a session token for the demo shop.
/// </summary>
public static partial class SandboxPages
{
    public const string CustomerCookie = "sandbox_customer";
    public const string HttpClientName = "sandbox-storefront";

    public sealed record OrderRequest(long? CustomerId, decimal? Amount);

    public sealed record OrderSent(long OrderId, long? CustomerId, decimal Amount, int WebhookStatus, string WebhookId);

    /// <summary><c>only</c> (POS): queue the faults for deductions, additions or balance reads only.</summary>
    public sealed record FaultRequest(string? Target, double? Rate, int? LatencyMs, int? SlowDelayMs, string? Next, int? Count, string? Only);

    public sealed record Faults(double Rate, int LatencyMs, int? SlowDelayMs);

    public sealed record CustomerState(long CustomerId, long Balance, long? PosBalance, long Pending);

    public sealed record State(string Shop, string BalanceSource, IReadOnlyList<CustomerState> Customers, Faults Pos, Faults Shopify, int Discounts,
        long NeedsReview, long InFlight, ClockState Clock);

    public static WebApplication MapSandboxPages(this WebApplication app)
    {
        if (!app.Services.GetRequiredService<IOptions<ShopifyOptions>>().Value.Sandbox) return app;

        app.MapGet("/", () => Results.Content(PageAssets.Read("sandbox-home.html"), "text/html; charset=utf-8")).ExcludeFromDescription();
        var sandbox = app.MapGroup("/sandbox").ExcludeFromDescription(); // the local demo's controls, not the product's API
        sandbox.MapGet("/state", StateAsync);
        sandbox.MapPost("/orders", SendOrderAsync);
        sandbox.MapPost("/faults", SetFaults);
        sandbox.MapPost("/clock", SetClock);
        sandbox.MapSandboxFlow();
        sandbox.MapGet("/session-token", (IOptions<ShopifyOptions> shopify, IOptions<SandboxOptions> o) =>
            TypedResults.Ok(new { token = SandboxMode.SessionToken(shopify.Value, o.Value.DemoShop), shop = o.Value.DemoShop }));
        sandbox.MapGet("/storefront/login", (HttpContext http, string? customer, string? locale, IOptions<SandboxOptions> o) =>
        {
            if (locale is not null && !StorefrontLocale().IsMatch(locale))
                return Results.Problem(statusCode: 400, title: "locale is a language code such as ja or pt-BR", extensions: new Dictionary<string,
                    object?> { ["code"] = "invalid_locale" });
            if (customer is null or "" or "none") http.Response.Cookies.Delete(CustomerCookie);
            else if (long.TryParse(customer, NumberStyles.None, CultureInfo.InvariantCulture, out var id) && id > 0)
                http.Response.Cookies.Append(CustomerCookie, id.ToString(CultureInfo.InvariantCulture),
                    new CookieOptions { HttpOnly = true, SameSite = SameSiteMode.Lax });
            else return Results.Problem(statusCode: 400, title: "customer is a positive number or none", extensions: new Dictionary<string,
                object?> { ["code"] = "invalid_customer" });
            return Results.Redirect("/sandbox/storefront" + (locale is null ? "" : "/" + locale) + ShopifyOutbound.ProxyPathPrefix);
        });
        sandbox.Map("/storefront" + ShopifyOutbound.ProxyPathPrefix + "/{**rest}", ForwardAsync);
        sandbox.Map("/storefront/{locale}" + ShopifyOutbound.ProxyPathPrefix + "/{**rest}", ForwardAsync);
        return app;
    }

    private static async Task<State> StateAsync(NpgsqlDataSource db, SandboxSimulators simulators, IOptions<SandboxOptions> o, ProgramClock clock,
        CancellationToken ct)
    {
        var shop = o.Value.DemoShop;
        await using var conn = await db.OpenConnectionAsync(ct);
        var balances = (await conn.QueryAsync<(long CustomerId, long Balance, long Pending)>(new CommandDefinition(
            "SELECT customer_id, balance, pending FROM point_balances WHERE shop_domain = @shop ORDER BY customer_id", new { shop },
            cancellationToken: ct))).ToList();
        var source = await conn.ExecuteScalarAsync<string?>(new CommandDefinition(
            "SELECT balance_source FROM shop_settings WHERE shop_domain = @shop", new { shop }, cancellationToken: ct)) ?? BalanceSources.Ledger;
        var counts = await conn.QuerySingleAsync<(long NeedsReview, long InFlight)>(new CommandDefinition("""
            SELECT count(*) FILTER (WHERE state = 'needs_review'), count(*) FILTER (WHERE state IN ('pending', 'coupon_created', 'settling',
                'compensating'))
            FROM conversions WHERE shop_domain = @shop
            """, new { shop }, cancellationToken: ct));
        var pos = simulators.Pos;
        var shopify = simulators.Shopify;
        var ids = balances.Select(b => b.CustomerId).Union(o.Value.DemoCustomers.Keys.Select(
            k => long.Parse(k, CultureInfo.InvariantCulture))).Order();
        return new State(shop, source,
            ids.Select(id => new CustomerState(id, balances.FirstOrDefault(b => b.CustomerId == id).Balance,
                pos?.Balance(id.ToString(CultureInfo.InvariantCulture)), balances.FirstOrDefault(b => b.CustomerId == id).Pending)).ToList(),
            new Faults(pos?.FaultRate ?? 0, (int)(pos?.Latency.TotalMilliseconds ?? 0), (int?)pos?.SlowDelay.TotalMilliseconds),
            new Faults(shopify?.FaultRate ?? 0, (int)(shopify?.Latency.TotalMilliseconds ?? 0), null),
            shopify?.Discounts().Count ?? 0, counts.NeedsReview, counts.InFlight, Clock(clock));
    }

    /// <summary>A paid order for a demo customer: recorded in the Shopify simulator, then delivered to <c>/webhooks</c> signed like
    /// Shopify.</summary>
    private static async Task<Results<Ok<OrderSent>, ProblemHttpResult>> SendOrderAsync(OrderRequest request, SandboxSimulators simulators,
        IOptions<SandboxOptions> o, IOptions<ShopifyOptions> shopify, IHttpClientFactory clients, IServer server, ILoggerFactory loggers,
        CancellationToken ct)
    {
        if (request.CustomerId is not > 0) return Problems.Validation("invalid_customer", "customerId is a positive number.");
        if (request.Amount is not (> 0 and <= 100_000)) return Problems.Validation("invalid_amount", "amount is more than 0 and at most 100,000.");
        var amount = decimal.Round(request.Amount.Value, 2);
        var orderId = 5_000_000_000_000 + Random.Shared.NextInt64(1, 999_999_999);
        simulators.Shopify?.AddPaidOrder(orderId, request.CustomerId, amount, amount);
        var webhookId = Guid.NewGuid().ToString();
        using var webhook = ShopifyOutbound.Webhook(new Uri(SelfBase(server), "/webhooks"), "orders/paid", o.Value.DemoShop,
            ShopifyOutbound.PaidOrder(orderId, request.CustomerId, amount, amount), shopify.Value.ApiSecret, webhookId);
        using var response = await clients.CreateClient(HttpClientName).SendAsync(webhook, ct);
        LogOrder(loggers.CreateLogger(typeof(SandboxPages)), orderId, request.CustomerId.Value, amount, (int)response.StatusCode);
        return TypedResults.Ok(new OrderSent(orderId, request.CustomerId, amount, (int)response.StatusCode, webhookId));
    }

    private static Results<Ok<State>, Ok<Faults>, ProblemHttpResult> SetFaults(FaultRequest request, SandboxSimulators simulators,
        ILoggerFactory loggers)
    {
        if (request.Rate is < 0 or > 1) return Problems.Validation("invalid_rate", "rate is between 0 and 1.");
        if (request.LatencyMs is < 0 or > 60_000 || request.SlowDelayMs is < 0 or > 120_000)
            return Problems.Validation("invalid_latency", "latencyMs is 0-60000 and slowDelayMs 0-120000.");
        if (request.Count is < 1 or > 1000) return Problems.Validation("invalid_count", "count is 1-1000.");
        var logger = loggers.CreateLogger(typeof(SandboxPages));
        switch (request.Target)
        {
            case "pos" when simulators.Pos is { } pos:
                if (request.Rate is { } r) pos.FaultRate = r;
                if (request.LatencyMs is { } l) pos.Latency = TimeSpan.FromMilliseconds(l);
                if (request.SlowDelayMs is { } d) pos.SlowDelay = TimeSpan.FromMilliseconds(d);
                if (request.Next is not null)
                {
                    if (!Enum.TryParse<PosFault>(request.Next, ignoreCase: false, out var fault) || !Enum.IsDefined(fault))
                        return Problems.Validation("invalid_fault", $"next is one of {string.Join(", ", Enum.GetNames<PosFault>())}.");
                    string? path = request.Only switch
                    {
                        null or "" or "any" => null,
                        "deductions" => "/points/deductions",
                        "additions" => "/points/additions",
                        "transactions" => "/transactions/",
                        _ => "?",
                    };
                    if (path == "?") return Problems.Validation("invalid_fault", "only is any, deductions, additions or transactions.");
                    pos.FailNext(fault, request.Count ?? 1, path);
                }
                LogFaults(logger, "POS", pos.FaultRate, pos.Latency.TotalMilliseconds, request.Next);
                return TypedResults.Ok(new Faults(pos.FaultRate, (int)pos.Latency.TotalMilliseconds, (int)pos.SlowDelay.TotalMilliseconds));
            case "shopify" when simulators.Shopify is { } shopify:
                if (request.SlowDelayMs is not null) return Problems.Validation("invalid_fault", "slowDelayMs applies to the POS only.");
                if (request.Rate is { } sr) shopify.FaultRate = sr;
                if (request.LatencyMs is { } sl) shopify.Latency = TimeSpan.FromMilliseconds(sl);
                if (request.Next is not null)
                {
                    if (!Enum.TryParse<ShopifyFault>(request.Next, ignoreCase: false, out var fault) || !Enum.IsDefined(fault))
                        return Problems.Validation("invalid_fault", $"next is one of {string.Join(", ", Enum.GetNames<ShopifyFault>())}.");
                    shopify.FailNext(fault, request.Count ?? 1);
                }
                LogFaults(logger, "Shopify", shopify.FaultRate, shopify.Latency.TotalMilliseconds, request.Next);
                return TypedResults.Ok(new Faults(shopify.FaultRate, (int)shopify.Latency.TotalMilliseconds, null));
            default:
                return Problems.Validation("invalid_target", "target is pos or shopify.");
        }
    }

    /// <summary>This app's own address, to reach it over HTTP like Shopify does.</summary>
    private static Uri SelfBase(IServer server)
    {
        var address = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault(a => a.StartsWith("http://", StringComparison.Ordinal))
            ?? throw new InvalidOperationException("The sandbox needs an http address to call itself.");
        var uri = new UriBuilder(address.Replace("://+", "://localhost").Replace("://*", "://localhost").Replace("://[::]", "://localhost")
            .Replace("://0.0.0.0", "://localhost"));
        return uri.Uri;
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "SANDBOX: sent orders/paid for order {OrderId} of customer {CustomerId}, {Amount}: HTTP {Status}")]
    private static partial void LogOrder(ILogger logger, long orderId, long customerId, decimal amount, int status);

    [LoggerMessage(Level = LogLevel.Warning, Message = "SANDBOX: {Target} faults now rate {Rate}, latency {LatencyMs} ms, next {Next}")]
    private static partial void LogFaults(ILogger logger, string target, double rate, double latencyMs, string? next);
}
