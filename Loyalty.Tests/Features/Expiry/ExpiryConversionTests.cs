using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.Tests.Features.Conversion;

namespace Loyalty.Tests.Features.Expiry;

/// <summary>
/// Expiry beside conversions: a cancelled coupon gives its points back to the lots they came from (no fresh date), and points a
/// conversion in flight is spending are left to it.
/// </summary>
public sealed class ExpiryConversionTests(ExpiryConversionTests.ExpiryConversionApp app)
    : ConversionTestBase<ExpiryConversionTests.ExpiryConversionApp>(app)
{
    public sealed class ExpiryConversionApp : ConversionApp
    {
        public ShiftedClock Clock { get; } = new();

        protected override Action<IServiceCollection>? Services => s => s.AddSingleton<TimeProvider>(Clock);
    }

    private ShiftedClock Clock => Fixture.Clock;

    private readonly DateTimeOffset Today = DateTimeOffset.UtcNow; // each test's own: a class-wide one ages while the class runs

    /// <summary>
    /// The shop's rule began, and the customer earned 1000 points, 11 months and 25 days ago (the app's clock set back for it); the
    /// tests run today, where Shopify's simulated cost bucket keeps the real time.
    /// </summary>
    public override async Task InitializeAsync()
    {
        At(0);
        await base.InitializeAsync(); // installed today
        At(-11, -25);
        await SetAsync(new { expiryMode = "earned", expiryMonths = 12 });
        await GiveAsync(1000);
        At(0);
    }

    private void At(int months, int days = 0) => Clock.Shift = Today.AddMonths(months).AddDays(days) - Today;

    private Task<HttpResponseMessage> ProxyPostAsync(string path, object body, string? key = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath(path, Shop, Customer, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(body),
        };
        if (key is not null) request.Headers.Add("Idempotency-Key", key);
        return App.Http.SendAsync(request);
    }

    private async Task<List<string>> ExpiriesAsync()
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        return [.. await Dapper.SqlMapper.QueryAsync<string>(conn, """
            SELECT reference || ' ' || points FROM point_transactions WHERE shop_domain = @shop AND kind = 'expiry' ORDER BY id
            """, new { shop = Shop })];
    }

    private Task<long> WelcomeLotAsync() => App.ScalarAsync<long>(
        "SELECT id FROM point_transactions WHERE shop_domain = @shop AND kind = 'bonus'", new { shop = Shop });

    [Fact]
    public async Task A_cancelled_coupon_gives_back_points_that_keep_their_age()
    {
        Shopify.StubDiscountCreate(Shop);
        var converted = await App.ConversionSettledAsync(await ProxyPostAsync("/proxy/api/conversions", new { points = 1000 }, "renew-1"));
        Assert.Equal(HttpStatusCode.Created, converted.StatusCode);
        var code = (await converted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        Assert.Equal(HttpStatusCode.OK, (await ProxyPostAsync($"/proxy/api/coupons/{code}/cancel", new { })).StatusCode);
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));

        At(0, 6);
        await App.Services.GetRequiredService<PointsExpiry>().ExpireDueAsync(default);

        Assert.Equal(0, await App.BalanceAsync(Shop, Customer)); // the points given back were earned a year ago, not today
        Assert.Equal([$"expire:{await WelcomeLotAsync()}:1 -1000"], await ExpiriesAsync());
    }

    [Fact]
    public async Task Points_a_conversion_in_flight_is_spending_are_left_to_it_and_the_rest_expires()
    {
        var id = await LeftBehindAsync("coupon_created", points: 600); // its coupon exists; its points are not deducted yet

        At(0, 6);
        await App.Services.GetRequiredService<PointsExpiry>().ExpireDueAsync(default);
        Assert.Equal([$"expire:{await WelcomeLotAsync()}:1 -400"], await ExpiriesAsync());

        At(0);
        await ReconcileAsync();
        Assert.Equal("completed", await StateAsync(id)); // its 600 points were still there to deduct
        Assert.Equal(0, await App.BalanceAsync(Shop, Customer));
    }
}
