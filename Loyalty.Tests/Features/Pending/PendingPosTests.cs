using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.Tests.Features.PosSync;

namespace Loyalty.Tests.Features.Pending;

/// <summary>In POS mode pending points stay out of the POS (the balance authority) until they are released, then reach it once.</summary>
public sealed class PendingPosTests(PendingPosTests.PendingPosApp app) : PosSyncTestBase<PendingPosTests.PendingPosApp>(app)
{
    public sealed class PendingPosApp : PosSyncApp
    {
        public ShiftedClock Clock { get; } = new();

        protected override Action<IServiceCollection>? Services => s => s.AddSingleton<TimeProvider>(Clock);
    }

    public override async Task InitializeAsync()
    {
        Fixture.Clock.Shift = TimeSpan.Zero;
        await base.InitializeAsync();
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { earnRate = 1m, pendingDays = 7 })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task The_POS_receives_an_orders_points_when_they_are_released_not_when_the_order_is_paid()
    {
        Pos.Given(Request.Create().WithPath("/customers/777/points/additions").UsingPost()).RespondWith(Response.Create().WithStatusCode(201)
            .WithBodyAsJson(new { transactionId = "t_1", reference = "release:9101", points = 100, balance = 100 }));
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9101, 777, subtotal: 100m, total: 100m));
        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(91011, 9101, 25m)); // inside the period: the POS never hears of it

        Assert.Equal(0, await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @shop", new { shop = Shop }));
        Fixture.Clock.Shift = TimeSpan.FromDays(8);
        await App.Services.GetRequiredService<PendingRelease>().ReleaseDueAsync(default);

        await WaitForStateAsync("release:9101", "delivered");
        Assert.Equal(["release:9101"], References("additions"));
        Assert.Empty(References("deductions"));
        Assert.Contains("\"points\":75", Pos.LogEntries.Single().RequestMessage!.Body);
    }
}
