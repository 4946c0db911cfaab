using System.Net.Http.Headers;
using Dapper;
using Loyalty.ShopifyApp.Infrastructure.Shopify;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// The real app on Kestrel (a real socket), a real PostgreSQL database of its own, and Shopify pointed
/// at a <see cref="ShopifyFake"/>. Tests talk to it only through <see cref="Http"/>, the database and the fake's journal.
/// </summary>
public sealed class LoyaltyApp : WebApplicationFactory<Program>
{
    public const string ApiKey = "test-client-id-4f1c2b";
    public const string Secret = "shpss_test_secret_0123456789abcdef0123456789";

    private readonly Dictionary<string, string?> _settings;
    private readonly Action<IServiceCollection>? _services;

    private readonly string _environment;

    private LoyaltyApp(Dictionary<string, string?> settings, Action<IServiceCollection>? services, string environment)
    {
        _settings = settings;
        _services = services;
        _environment = environment;
    }

    public HttpClient Http { get; private set; } = null!;

    /// <summary>The app's latest log lines, for the message of a test that timed out waiting for background work.</summary>
    public RecentLogs Log { get; } = new();

    public string ConnectionString => _settings["ConnectionStrings:Loyalty"]!;

    public NpgsqlDataSource Db => Services.GetRequiredService<NpgsqlDataSource>();

    private static readonly string[] DevelopmentOnly = ["Pos:AllowPrivateNetworks", "Settings:AllowInsecurePosUrls", "Events:AllowInsecureEndpoints"];

    public static async Task<LoyaltyApp> StartAsync(ShopifyFake shopify, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? services = null, string? connectionString = null, string? environment = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["ConnectionStrings:Loyalty"] = connectionString ?? await TestDatabase.CreateAsync(),
            ["Shopify:ApiKey"] = ApiKey,
            ["Shopify:ApiSecret"] = Secret,
            ["Shopify:AppUrl"] = "https://loyalty.test",
            ["Shopify:AdminUrlTemplate"] = shopify.UrlTemplate,
            ["Shopify:GraphQLRetryBaseDelayMs"] = "10",
            ["Webhooks:PollIntervalMs"] = "50",
            ["Webhooks:RetryBaseDelaySeconds"] = "0.05",
            ["Webhooks:MaxRetryDelaySeconds"] = "0.2",
            // Off unless a test turns it on (TokenRefreshWorkerTests): a refresh from the background, at whatever moment a 5-minute
            // boundary falls, would be one more grant in tests that count what Shopify's token endpoint received.
            ["Jobs:Schedules:token-refresh"] = "",
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) all[k] = v;
        // The settings that let outbound calls reach loopback fakes over http exist only in Development (the app refuses
        // them anywhere else): a test that needs them runs its app as Development.
        // Unless the test names its environment.
        environment ??= DevelopmentOnly.Any(k => string.Equals(all.GetValueOrDefault(k), "true", StringComparison.OrdinalIgnoreCase))
            ? "Development" : "Testing";

        var app = new LoyaltyApp(all, services, environment);
        app.UseKestrel(0);
        app.StartServer();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        app.Http = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, UseCookies = false })
        {
            BaseAddress = new Uri(address.Replace("[::]", "127.0.0.1", StringComparison.Ordinal)),
        };
        return app;
    }

    /// <summary>
    /// The app as the README's run command starts it: Development with no Shopify credentials, so sandbox mode with
    /// its simulators on free local ports. <paramref name="unused"/> must see no traffic.
    /// </summary>
    public static Task<LoyaltyApp> StartSandboxAsync(ShopifyFake unused, IDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Shopify:ApiKey"] = "",
            ["Shopify:ApiSecret"] = "",
            ["Shopify:AppUrl"] = "",
            ["Shopify:AdminUrlTemplate"] = "https://{shop}",
            ["Sandbox:ShopifyPort"] = Loyalty.ShopifyApp.Sandbox.LocalPostgres.FreePort().ToString(),
            ["Sandbox:PosPort"] = Loyalty.ShopifyApp.Sandbox.LocalPostgres.FreePort().ToString(),
        };
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>()) all[k] = v;
        return StartAsync(unused, all, environment: "Development");
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment(_environment);
        builder.ConfigureAppConfiguration((_, config) => config.AddInMemoryCollection(_settings));
        builder.ConfigureLogging(logging => logging.AddProvider(Log));
        if (_services is not null) builder.ConfigureTestServices(_services);
    }

    // ---- Shopify-shaped requests -------------------------------------------------------------

    public static string NewShop() => $"shop-{Guid.NewGuid():N}"[..20] + ".myshopify.com";

    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822",
        Justification = "Tests ask the app they started: App.SessionToken(shop).")]
    public string SessionToken(string shop) => SessionTokenMinter.Mint(Secret, ApiKey, shop);

    public HttpRequestMessage Admin(HttpMethod method, string path, string shop, HttpContent? content = null) =>
        AdminWithToken(method, path, SessionToken(shop), content);

    public static HttpRequestMessage AdminWithToken(HttpMethod method, string path, string? token, HttpContent? content = null)
    {
        var request = new HttpRequestMessage(method, path) { Content = content };
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return request;
    }

    /// <summary>Installs <paramref name="shop"/> through the real token-exchange path.</summary>
    /// <summary>
    /// Installs <paramref name="shop"/> as Shopify's managed install does. Unless <paramref name="earningOff"/>, its merchant has
    /// earned 1 point per unit of the subtotal from the start (the rules most tests are written against; a new shop's
    /// defaults leave earning off until the merchant sets a rate).
    /// </summary>
    public async Task InstallAsync(ShopifyFake shopify, string shop, string accessToken = "shpat_exchanged", int expiresIn = 3600,
        string refreshToken = "shprt_exchanged", bool earningOff = false)
    {
        shopify.StubTokenExchange(shop, accessToken, expiresIn, refreshToken);
        shopify.StubShopDetails(shop);
        using var response = await Http.SendAsync(Admin(HttpMethod.Get, "/api/admin/shop", shop));
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException(
            $"Install of {shop} failed: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        if (!earningOff) await EarnFromTheStartAsync(shop);
    }

    /// <summary>
    /// <paramref name="shop"/>'s merchant set 1 point per unit of the subtotal before any order (the rules most tests are written
    /// against), as a shop installed before earning was off by default kept them (migration 0020).
    /// </summary>
    public async Task EarnFromTheStartAsync(string shop)
    {
        await using var conn = await Db.OpenConnectionAsync();
        await conn.ExecuteAsync("""
            INSERT INTO shop_settings (shop_domain, earn_rate, earn_basis, test_orders_earn, point_value, min_conversion, conversion_step,
                                       daily_conversion_limit, coupon_validity_days, feedback_bonus, feedback_daily_limit,
                                       negative_balance_policy, balance_source)
            VALUES (@shop, 1, 'subtotal', false, 1, 100, 100, 10000, 30, 10, 1, 'allow_negative', 'ledger')
            ON CONFLICT (shop_domain) DO NOTHING;
            INSERT INTO earn_rule_changes (shop_domain, effective_at, earn_rate, earn_basis, test_orders_earn)
            VALUES (@shop, '-infinity', 1, 'subtotal', false)
            ON CONFLICT (shop_domain, effective_at) DO NOTHING;
            """, new { shop });
    }

    public Task<HttpResponseMessage> PostWebhookAsync(string topic, string shop, string body, string? webhookId = null,
        string? secret = null, DateTimeOffset? triggeredAt = null, string? hmac = null, string apiVersion = "2026-10")
    {
        var bytes = Encoding.UTF8.GetBytes(body);
        var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(bytes) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Add("X-Shopify-Topic", topic);
        request.Headers.Add("X-Shopify-Shop-Domain", shop);
        request.Headers.Add("X-Shopify-Webhook-Id", webhookId ?? Guid.NewGuid().ToString());
        request.Headers.Add("X-Shopify-Event-Id", Guid.NewGuid().ToString());
        request.Headers.Add("X-Shopify-API-Version", apiVersion);
        request.Headers.Add("X-Shopify-Triggered-At", (triggeredAt ?? DateTimeOffset.UtcNow).ToString("O"));
        request.Headers.Add("X-Shopify-Hmac-Sha256", hmac ?? ShopifySignatures.SignWebhook(bytes, secret ?? Secret));
        return Http.SendAsync(request);
    }

    /// <summary>A storefront request as Shopify's app proxy forwards it, signed like Shopify signs it.</summary>
    public static string ProxyPath(string path, string shop, long? customerId, DateTimeOffset? timestamp = null,
        string? secret = null, IEnumerable<KeyValuePair<string, string>>? extra = null)
    {
        var query = new List<KeyValuePair<string, string>>
        {
            new("shop", shop),
            new("logged_in_customer_id", customerId?.ToString() ?? ""),
            new("path_prefix", "/apps/loyalty"),
            new("timestamp", (timestamp ?? DateTimeOffset.UtcNow).ToUnixTimeSeconds().ToString()),
        };
        query.AddRange(extra ?? []);
        return SignedProxyPath(path, query, secret);
    }

    /// <summary>Exactly this query, in this order, signed as Shopify's app proxy signs it (repeated keys' values joined with commas).</summary>
    public static string SignedProxyPath(string path, IEnumerable<KeyValuePair<string, string>> query, string? secret = null)
    {
        var pairs = query.ToList();
        var message = string.Concat(pairs.GroupBy(p => p.Key)
            .Select(g => $"{g.Key}={string.Join(",", g.Select(p => p.Value))}")
            .OrderBy(s => s, StringComparer.Ordinal));
        pairs.Add(new("signature", ShopifySignatures.HexHmac(message, secret ?? Secret)));
        return path + "?" + string.Join("&", pairs.Select(p => $"{Uri.EscapeDataString(p.Key)}={Uri.EscapeDataString(p.Value)}"));
    }

    /// <summary>
    /// Edits the shop's stored token (<paramref name="sql"/>, on <c>@shop</c> and <paramref name="args"/>' other names) and drops
    /// what this process kept of it, as a test that changes what only a grant or a refresh changes must: the process would otherwise
    /// go on with the token it read (<c>Shopify:AccessTokenCacheSeconds</c>).
    /// </summary>
    public async Task EditTokenAsync(string shop, string sql, object? args = null)
    {
        await using (var conn = await Db.OpenConnectionAsync())
        {
            var parameters = new DynamicParameters(args);
            parameters.Add("shop", shop);
            await conn.ExecuteAsync(sql, parameters);
        }
        Services.GetRequiredService<Loyalty.ShopifyApp.Infrastructure.Shopify.AccessTokenCache>().Drop(shop);
    }

    // ---- Reading state -------------------------------------------------------------------------

    public async Task<T?> ScalarAsync<T>(string sql, object? args = null)
    {
        await using var conn = await Db.OpenConnectionAsync();
        return await conn.ExecuteScalarAsync<T>(sql, args);
    }

    /// <summary>Sends a signed delivery and waits until the processor has handled it.</summary>
    public async Task DeliverAsync(string topic, string shop, string body, string? webhookId = null, DateTimeOffset? triggeredAt = null)
    {
        webhookId ??= Guid.NewGuid().ToString();
        using var response = await PostWebhookAsync(topic, shop, body, webhookId, triggeredAt: triggeredAt);
        if (response.StatusCode != System.Net.HttpStatusCode.OK) throw new InvalidOperationException($"Webhook answered {(int)response.StatusCode}.");
        await WaitForDeliveryAsync(webhookId, "processed");
    }

    /// <summary>Waits until <paramref name="condition"/> holds (background work), or fails with <paramref name="what"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, string what, int timeoutMs = 15000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition()) return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"Timed out waiting for: {what}");
    }

    /// <summary>
    /// A conversion answered with its code (201) may still be writing the customer's list behind the answer
    /// (<c>Conversion:AnswerBeforeList</c>): waits until that drive has released the conversion, so what a test reads next is settled.
    /// </summary>
    public async Task<HttpResponseMessage> ConversionSettledAsync(HttpResponseMessage response)
    {
        // Read as a string: the body stays in its buffer for the test (a stream read would close it).
        if (response.StatusCode != HttpStatusCode.Created
            || !JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.TryGetProperty("conversionId", out var conversionId))
        {
            return response;
        }
        var id = conversionId.GetString();
        await WaitUntilAsync(async () => await ScalarAsync<bool>("SELECT locked_until IS NULL FROM conversions WHERE id = @id", new { id }),
            $"conversion {id}'s drive over");
        return response;
    }

    public Task<long> BalanceAsync(string shop, long customerId) => ScalarAsync<long>(
        "SELECT coalesce((SELECT balance FROM point_balances WHERE shop_domain = @shop AND customer_id = @customerId), 0)", new { shop, customerId });

    /// <summary>Waits for the background processor to bring a delivery to <paramref name="status"/>.</summary>
    public async Task WaitForDeliveryAsync(string webhookId, string status, int timeoutMs = 15000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        string? current = null;
        while (DateTime.UtcNow < deadline)
        {
            current = await ScalarAsync<string>("SELECT status FROM webhook_deliveries WHERE webhook_id = @webhookId", new { webhookId });
            if (current == status) return;
            await Task.Delay(50);
        }
        var error = await ScalarAsync<string>("SELECT last_error FROM webhook_deliveries WHERE webhook_id = @webhookId", new { webhookId });
        throw new TimeoutException($"Delivery {webhookId} is '{current ?? "absent"}', expected '{status}'. Last error: {error}");
    }

    public override async ValueTask DisposeAsync()
    {
        Http?.Dispose();
        await base.DisposeAsync();
    }
}
