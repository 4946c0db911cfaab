using Loyalty.ShopifyApp.Features.Conversion;
using WireMock.Server;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// The app conversions run on: Shopify (discounts, metafields) stubbed for every new shop, POS URLs on this machine
/// allowed, nothing waited for, and the reconciler left to the tests. A class that needs more settings passes them.
/// </summary>
public class ConversionApp : AppFixture
{
    public ConversionApp()
        : this(null)
    {
    }

    /// <param name="more">Settings added to (or changed in) the ones below.</param>
    protected ConversionApp(Dictionary<string, string?>? more)
        : base(new Dictionary<string, string?>
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
        }.Concat(more ?? []).GroupBy(kv => kv.Key).ToDictionary(g => g.Key, g => g.Last().Value))
    {
    }

    public override async Task<string> NewShopAsync()
    {
        var shop = await base.NewShopAsync();
        Shopify.StubCouponsMetafield(shop);
        Shopify.StubMetafieldsSet(shop);
        Shopify.StubDiscountDelete(shop);
        Shopify.StubDiscountDeactivate(shop);
        Shopify.StubFindCode(shop, null, priority: 10); // no such code, unless a test says otherwise
        return shop;
    }
}

/// <summary>
/// Conversion tests: customer <see cref="Customer"/> of a new shop on the class's <see cref="ConversionApp"/>, with a POS
/// of the test's own (used when a test switches the shop to POS mode); the reconciler is run by the tests.
/// </summary>
public abstract class ConversionTestBase<TFixture>(TFixture fixture) : AppTests<TFixture>(fixture) where TFixture : ConversionApp
{
    protected const long Customer = 777;

    protected WireMockServer Pos { get; private set; } = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Pos = Fixture.NewServer();
    }

    /// <summary>
    /// Takes this test's conversions out of every later reconciler run: a run drives every shop's due conversions, again
    /// and again while one stays due (the retry delay is 0 here), so one a test leaves unsettled on purpose would keep
    /// the next test's run from ever ending.
    /// </summary>
    public override async Task DisposeAsync()
    {
        await App.ScalarAsync<int>("UPDATE conversions SET next_attempt_at = 'infinity' WHERE shop_domain = @shop", new { shop = Shop });
        await base.DisposeAsync();
    }

    protected async Task GiveAsync(long points)
    {
        var request = App.Admin(HttpMethod.Post, $"/api/admin/customers/{Customer}/points", Shop,
            JsonContent.Create(new { points, description = "welcome" }));
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        (await App.Http.SendAsync(request)).EnsureSuccessStatusCode();
    }

    protected async Task SetAsync(object settings) =>
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop, JsonContent.Create(settings)))).EnsureSuccessStatusCode();

    /// <summary>
    /// The customer converts. A code answered while its list is still being written behind the answer
    /// (<c>Conversion:AnswerBeforeList</c>) is waited out until that drive has released the conversion, so what a test reads next is
    /// settled; <see cref="ConvertAnsweredAsync"/> returns at the answer.
    /// </summary>
    protected async Task<HttpResponseMessage> ConvertAsync(long points, string? key = null, long? customer = Customer) =>
        await App.ConversionSettledAsync(await ConvertAnsweredAsync(points, key, customer));

    protected Task<HttpResponseMessage> ConvertAnsweredAsync(long points, string? key = null, long? customer = Customer)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, customer))
        {
            Content = new StringContent(JsonSerializer.Serialize(new { points }), Encoding.UTF8, "application/json"),
        };
        if (key is not null) request.Headers.Add("Idempotency-Key", key);
        return App.Http.SendAsync(request);
    }

    /// <summary>
    /// Runs the reconciler, then waits while another run (a wake-up that a test before this one on the same app scheduled)
    /// still holds one of this shop's conversions, so that what the test reads next is settled.
    /// </summary>
    protected async Task<int> ReconcileAsync()
    {
        var driven = await App.Services.GetRequiredService<ConversionReconciler>().RunAsync(default);
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM conversions WHERE shop_domain = @shop AND locked_until > now()", new { shop = Shop }) == 0,
            "no other reconciler run holding this shop's conversions");
        return driven;
    }

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
            """,
            new
            {
                id, shop = Shop, customer = Customer, key = "crash-" + id, points, balanceSource, state,
                code = ConversionIds.NewCode(Customer, points), discountId, failureCode,
            });
        return id;
    }

    protected async Task UsePosAsync(long balance)
    {
        await SetAsync(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = "pos-key" });
        Pos.Given(WireMock.RequestBuilders.Request.Create().WithPath($"/customers/{Customer}/points").UsingGet())
            .RespondWith(WireMock.ResponseBuilders.Response.Create().WithStatusCode(200).WithBodyAsJson(
                new { customerId = Customer.ToString(), balance }));
    }
}
