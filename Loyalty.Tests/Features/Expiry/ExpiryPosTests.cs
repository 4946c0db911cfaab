using WireMock.Matchers;
using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.Tests.Features.PosSync;

namespace Loyalty.Tests.Features.Expiry;

/// <summary>
/// In POS mode an expiry is a deduction the POS receives with its own reference, once, like any other change of the ledger; until
/// it is delivered it is owed, so a donation cannot give the expired points at the POS meanwhile.
/// </summary>
public sealed class ExpiryPosTests(ExpiryPosTests.ExpiryPosApp app) : PosSyncTestBase<ExpiryPosTests.ExpiryPosApp>(app)
{
    public sealed class ExpiryPosApp : PosSyncApp
    {
        public ShiftedClock Clock { get; } = new();

        protected override Action<IServiceCollection>? Services => s => s.AddSingleton<TimeProvider>(Clock);
    }

    private ShiftedClock Clock => Fixture.Clock;

    public override async Task InitializeAsync()
    {
        Clock.Shift = TimeSpan.Zero;
        await base.InitializeAsync();
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { earnRate = 1m, expiryMode = "earned", expiryMonths = 12 })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Customer 778's order of 120 points, paid now and delivered to the POS as an addition.</summary>
    private async Task<long> PaidAndAtThePosAsync(long orderId)
    {
        Pos.Given(Request.Create().WithPath("/customers/778/points/additions").UsingPost()).RespondWith(Response.Create().WithStatusCode(201)
            .WithBodyAsJson(new { transactionId = "t_1", reference = $"order:{orderId}", points = 120, balance = 120 }));
        var paid = Clock.GetUtcNow();
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(orderId, 778, subtotal: 120m, total: 120m, processedAt: paid,
            createdAt: paid), triggeredAt: paid);
        await WaitForStateAsync($"order:{orderId}", "delivered");
        return await App.ScalarAsync<long>("SELECT id FROM point_transactions WHERE shop_domain = @shop AND reference = @reference",
            new { shop = Shop, reference = $"order:{orderId}" });
    }

    [Fact]
    public async Task The_POS_receives_each_expired_lot_as_a_deduction_with_its_reference()
    {
        var lot = await PaidAndAtThePosAsync(9201);
        Pos.Given(Request.Create().WithPath("/customers/778/points/deductions").UsingPost()).RespondWith(Response.Create().WithStatusCode(201)
            .WithBodyAsJson(new { transactionId = "t_2", reference = $"expire:{lot}:1", points = 120, balance = 0 }));

        Clock.Shift = TimeSpan.FromDays(367);
        await App.Services.GetRequiredService<PointsExpiry>().ExpireDueAsync(default);

        await WaitForStateAsync($"expire:{lot}:1", "delivered");
        Assert.Equal([$"expire:{lot}:1"], References("deductions"));
        var deduction = Pos.LogEntries.Single(e => e.RequestMessage!.Path.EndsWith("/deductions", StringComparison.Ordinal));
        Assert.Contains("\"points\":120", deduction.RequestMessage!.Body);
    }

    [Fact]
    public async Task A_donation_cannot_give_at_the_POS_points_whose_expiry_has_not_reached_it_yet()
    {
        await PaidAndAtThePosAsync(9301);
        Pos.Given(Request.Create().WithPath("/customers/778/points").UsingGet()).RespondWith(Response.Create().WithStatusCode(200)
            .WithBodyAsJson(new { customerId = "778", balance = 120 })); // the POS still holds the expired points
        Pos.Given(Request.Create().WithPath("/customers/778/points/deductions").UsingPost()).RespondWith(Response.Create().WithStatusCode(503));
        Clock.Shift = TimeSpan.FromDays(367);

        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/donations", Shop, 778, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points = 100, cause = "Food bank" }),
        };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        var refused = await App.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
        var problem = await refused.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("insufficient_points", 0), (problem.GetProperty("code").GetString(), problem.GetProperty("balance").GetInt64()));
        Assert.DoesNotContain(Pos.LogEntries, e => e.RequestMessage!.Body?.Contains("\"reference\":\"don_", StringComparison.Ordinal) == true);
    }

    [Fact]
    public async Task An_expiry_the_POS_refused_is_not_owed_so_it_never_blocks_newer_points()
    {
        await PaidAndAtThePosAsync(9401);
        Pos.Given(Request.Create().WithPath("/customers/778/points/deductions").WithBody(new WildcardMatcher("*expire:*")).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(422) // the points were spent at the till
                .WithBodyAsJson(new { error = "insufficient_points", balance = 0 }));
        Clock.Shift = TimeSpan.FromDays(367);
        await App.Services.GetRequiredService<PointsExpiry>().ExpireDueAsync(default);
        var lot = await App.ScalarAsync<long>("SELECT id FROM point_transactions WHERE shop_domain = @shop AND reference = 'order:9401'",
            new { shop = Shop });
        await WaitForStateAsync($"expire:{lot}:1", "refused");

        Pos.Given(Request.Create().WithPath("/customers/778/points").UsingGet()).RespondWith(Response.Create().WithStatusCode(200)
            .WithBodyAsJson(new { customerId = "778", balance = 300 })); // newer points, earned at the till
        Pos.Given(Request.Create().WithPath("/customers/778/points/deductions").WithBody(new WildcardMatcher("*don_*")).UsingPost())
            .RespondWith(Response.Create().WithStatusCode(201)
                .WithBodyAsJson(new { transactionId = "t_9", reference = "don", points = 200, balance = 100 }));
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/donations", Shop, 778, Clock.GetUtcNow()))
        {
            Content = JsonContent.Create(new { points = 200, cause = "Food bank" }),
        };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());

        var donated = await App.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.Created, donated.StatusCode);
    }
}
