using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.Tests.Features.PosSync;

namespace Loyalty.Tests.Features.Expiry;

/// <summary>In POS mode an expiry is a deduction the POS receives with its own reference, once, like any other change of the ledger.</summary>
public sealed class ExpiryPosTests(PosSyncApp app) : PosSyncTestBase<PosSyncApp>(app)
{
    [Fact]
    public async Task The_POS_receives_each_expired_lot_as_a_deduction_with_its_reference()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { earnRate = 1m, expiryMode = "earned", expiryMonths = 12 })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Pos.Given(Request.Create().WithPath("/customers/778/points/additions").UsingPost()).RespondWith(Response.Create().WithStatusCode(201)
            .WithBodyAsJson(new { transactionId = "t_1", reference = "order:9201", points = 120, balance = 120 }));
        Pos.Given(Request.Create().WithPath("/customers/778/points/deductions").UsingPost()).RespondWith(Response.Create().WithStatusCode(201)
            .WithBodyAsJson(new { transactionId = "t_2", reference = "expire", points = 120, balance = 0 }));
        var paid = DateTimeOffset.UtcNow.AddMonths(-13);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(9201, 778, subtotal: 120m, total: 120m, processedAt: paid, createdAt: paid),
            triggeredAt: paid);
        await WaitForStateAsync("order:9201", "delivered");

        await App.Services.GetRequiredService<PointsExpiry>().ExpireDueAsync(default);
        await App.Services.GetRequiredService<PointsExpiry>().ExpireDueAsync(default); // a second run finds nothing due

        var lot = await App.ScalarAsync<long>("SELECT id FROM point_transactions WHERE shop_domain = @shop AND reference = 'order:9201'",
            new { shop = Shop });
        await WaitForStateAsync($"expire:{lot}", "delivered");
        Assert.Equal([$"expire:{lot}"], References("deductions"));
        var deduction = Pos.LogEntries.Single(e => e.RequestMessage!.Path.EndsWith("/deductions", StringComparison.Ordinal));
        Assert.Contains("\"points\":120", deduction.RequestMessage!.Body);
    }
}
