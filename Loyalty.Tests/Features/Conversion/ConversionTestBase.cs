using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using WireMock.Server;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>An installed shop with a WireMock Shopify (discounts, metafields) and POS; the reconciler is run by the tests.</summary>
public abstract class ConversionTestBase : IAsyncLifetime
{
    protected readonly ShopifyFake Shopify = new();
    protected readonly WireMockServer Pos = WireMockServer.Start();
    protected LoyaltyApp App = null!;
    protected string Shop = null!;
    protected const long Customer = 777;

    /// <summary>Settings a test class adds to (or changes in) the ones below.</summary>
    protected virtual IReadOnlyDictionary<string, string?> MoreSettings => new Dictionary<string, string?>();

    /// <summary>Services a test class replaces or adds (a log capture, a telemetry exporter).</summary>
    protected virtual Action<IServiceCollection>? MoreServices => null;

    public async Task InitializeAsync()
    {
        App = await LoyaltyApp.StartAsync(Shopify, new Dictionary<string, string?>(new Dictionary<string, string?>
        {
            ["Conversion:SettleAfterSeconds"] = "0",
            ["Conversion:RetryDelaySeconds"] = "0",
            ["Conversion:PendingTimeoutSeconds"] = "0",
            ["Jobs:Schedules:conversion-reconciler"] = "",
            ["Settings:AllowInsecurePosUrls"] = "true",
            ["Pos:AllowPrivateNetworks"] = "true",
            ["Pos:AttemptTimeoutSeconds"] = "0.5",
            ["Pos:TotalTimeoutSeconds"] = "2",
            ["Pos:RetryBaseDelayMs"] = "10",
        }.Concat(MoreSettings).GroupBy(kv => kv.Key).Select(g => g.Last())), MoreServices, environment: "Development"); // the POS fake is on loopback, over http
        Shop = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, Shop);
        Shopify.StubCouponsMetafield(Shop);
        Shopify.StubMetafieldsSet(Shop);
        Shopify.StubDiscountDelete(Shop);
        Shopify.StubDiscountDeactivate(Shop);
        Shopify.StubFindCode(Shop, null, priority: 10); // no such code, unless a test says otherwise
    }

    public async Task DisposeAsync()
    {
        await App.DisposeAsync();
        Shopify.Dispose();
        Pos.Stop();
    }

    protected async Task GiveAsync(long points)
    {
        var request = App.Admin(HttpMethod.Post, $"/api/admin/customers/{Customer}/points", Shop, JsonContent.Create(new { points, description = "welcome" }));
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        (await App.Http.SendAsync(request)).EnsureSuccessStatusCode();
    }

    protected async Task SetAsync(object settings) =>
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop, JsonContent.Create(settings)))).EnsureSuccessStatusCode();

    protected Task<HttpResponseMessage> ConvertAsync(long points, string? key = null, long? customer = Customer)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, customer))
        {
            Content = new StringContent(JsonSerializer.Serialize(new { points }), Encoding.UTF8, "application/json"),
        };
        if (key is not null) request.Headers.Add("Idempotency-Key", key);
        return App.Http.SendAsync(request);
    }

    protected Task<int> ReconcileAsync() => App.Services.GetRequiredService<ConversionReconciler>().RunAsync(default);

    protected Task<string?> StateAsync(string id) => App.ScalarAsync<string>("SELECT state FROM conversions WHERE id = @id", new { id });

    protected int Creates => Shopify.OperationBodies(Shop, "CreateLoyaltyCode").Count;

    protected int Deletes => Shopify.OperationBodies(Shop, "DeleteLoyaltyCode").Count;

    protected IReadOnlyList<string> PosDeductions => Pos.LogEntries
        .Where(e => e.RequestMessage!.Path.EndsWith("/points/deductions", StringComparison.Ordinal))
        .Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement.GetProperty("reference").GetString()!)
        .ToList();

    /// <summary>
    /// A conversion row as a crash would have left it (the reconciler's next claim is attempt 2): in every state, the
    /// coupon creation had been sent to Shopify.
    /// </summary>
    protected async Task<string> LeftBehindAsync(string state, long points = 500, string? discountId = null, string balanceSource = "ledger",
        string? failureCode = null)
    {
        var id = ConversionIds.NewId();
        await App.ScalarAsync<int>("""
            INSERT INTO conversions (id, shop_domain, customer_id, idempotency_key, points, amount, currency, balance_source, state, code,
                                     discount_id, expires_at, attempts, failure_code, deduct_attempted_at, created_at, coupon_requested_at)
            VALUES (@id, @shop, @customer, @key, @points, @points, 'EUR', @balanceSource, @state, @code, @discountId, now() + interval '90 days', 1,
                    @failureCode, CASE WHEN @state = 'settling' THEN now() - interval '1 minute' END, now() - interval '5 minutes',
                    now() - interval '5 minutes')
            """, new { id, shop = Shop, customer = Customer, key = "crash-" + id, points, balanceSource, state, code = ConversionIds.NewCode(Customer, points),
            discountId, failureCode });
        return id;
    }

    protected async Task UsePosAsync(long balance)
    {
        await SetAsync(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = "pos-key" });
        Pos.Given(WireMock.RequestBuilders.Request.Create().WithPath($"/customers/{Customer}/points").UsingGet())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = Customer.ToString(), balance }));
    }
}
