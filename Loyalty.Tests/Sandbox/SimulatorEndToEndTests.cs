using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Campaigns;

namespace Loyalty.Tests.Sandbox;

/// <summary>The real app against the stateful simulators: the whole product path, checked against their ground truth.</summary>
public sealed class SimulatorEndToEndTests : IAsyncLifetime
{
    private readonly ShopifyFake _unused = new(); // LoyaltyApp wants a fake for its defaults; every call goes to the simulator
    private ShopifySimulator _shopify = null!;
    private PosSimulator _pos = null!;
    private LoyaltyApp _app = null!;
    private const string Shop = "demo-shop.myshopify.com";

    public async Task InitializeAsync()
    {
        _shopify = await ShopifySimulator.StartAsync(LoyaltyApp.ApiKey, LoyaltyApp.Secret, seed: 3);
        _pos = await PosSimulator.StartAsync(seed: 3);
        _app = await LoyaltyApp.StartAsync(_unused, new Dictionary<string, string?>
        {
            ["Shopify:AdminUrlTemplate"] = _shopify.AdminUrlTemplate,
            ["Settings:AllowInsecurePosUrls"] = "true",
            ["Pos:AllowPrivateNetworks"] = "true",
            ["Jobs:ServerEnabled"] = "false",
            ["Campaigns:BulkPollIntervalMs"] = "0",
        }, environment: "Development"); // the POS simulator is on loopback, over http
        Assert.Equal(HttpStatusCode.OK, (await _app.Http.SendAsync(_app.Admin(HttpMethod.Get, "/api/admin/shop", Shop))).StatusCode);
    }

    public async Task DisposeAsync()
    {
        await _app.DisposeAsync();
        await _pos.DisposeAsync();
        await _shopify.DisposeAsync();
        _unused.Dispose();
    }

    /// <summary>The customer converts; a code's drive is waited out (its list written behind the answer).</summary>
    private async Task<HttpResponseMessage> ConvertAsync(long points, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 777))
        {
            Content = new StringContent(JsonSerializer.Serialize(new { points }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", key);
        return await _app.ConversionSettledAsync(await _app.Http.SendAsync(request));
    }

    [Fact]
    public async Task A_customer_earns_converts_in_POS_mode_and_cancels_with_both_simulators_agreeing()
    {
        Assert.Equal("demo-shop", await _app.ScalarAsync<string>("SELECT shop_name FROM shops WHERE shop_domain = @Shop", new { Shop }));
        _pos.SetBalance("777", 1000);
        (await _app.Http.SendAsync(_app.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = _pos.BaseUrl.ToString(),
                posApiKey = _pos.ApiKey })))).EnsureSuccessStatusCode();

        var converted = await ConvertAsync(500, "e2e-1");

        Assert.Equal(HttpStatusCode.Created, converted.StatusCode);
        var body = await converted.Content.ReadFromJsonAsync<JsonElement>();
        var code = body.GetProperty("code").GetString()!;
        Assert.Equal(500, body.GetProperty("balance").GetInt64());
        var discount = _shopify.DiscountWithCode(code);
        Assert.NotNull(discount);
        Assert.Single(_pos.Transactions(), t => t.Reference == body.GetProperty("conversionId").GetString() && t.Points == -500);
        Assert.Contains(code, _shopify.CouponsMetafield(777));

        var cancelled = await _app.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", Shop, 777),
            new StringContent("{}", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Null(_shopify.DiscountWithCode(code));
    }

    [Fact]
    public async Task A_coupon_created_whose_answer_was_lost_is_found_by_its_code_and_completed_once()
    {
        (await _app.Http.SendAsync(WithKey(_app.Admin(HttpMethod.Post, "/api/admin/customers/777/points", Shop,
            JsonContent.Create(new { points = 800, description = "welcome" })), "w1"))).EnsureSuccessStatusCode();
        _shopify.FailNext(ShopifyFault.AppliedButAnswerLost);

        var converted = await ConvertAsync(500, "e2e-lost");

        Assert.Equal(HttpStatusCode.Created, converted.StatusCode);
        Assert.Single(_shopify.Discounts());
        Assert.Equal(300, await _app.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task A_campaign_of_600_codes_ends_with_every_code_in_Shopify_once()
    {
        var response = await _app.Http.SendAsync(WithKey(_app.Admin(HttpMethod.Post, "/api/admin/campaigns", Shop,
            JsonContent.Create(new { title = "Flyers", percentage = 10, codes = new { count = 600, prefix = "F-", length = 10 } })), "e2e-flyers"));
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        _shopify.FailNext(ShopifyFault.Throttled);

        await _app.Services.GetRequiredService<CampaignGeneration>().GenerateAsync(id, default);

        var discount = Assert.Single(_shopify.Discounts());
        Assert.Equal(600, discount.Codes.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.Equal(600, discount.Codes.Count);
    }

    private static HttpRequestMessage WithKey(HttpRequestMessage request, string key)
    {
        request.Headers.Add("Idempotency-Key", key);
        return request;
    }
}
