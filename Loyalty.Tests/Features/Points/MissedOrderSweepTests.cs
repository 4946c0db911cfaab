using Loyalty.ShopifyApp.Features.Points;
using WireMock.Matchers;

namespace Loyalty.Tests.Features.Points;

/// <summary>A paid order whose webhook never arrived is found through the Admin API and awarded once.</summary>
public sealed class MissedOrderSweepTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private static object Node(long id, long? customer, string subtotal, string total, bool test = false, DateTimeOffset? processedAt = null,
        object[]? transactions = null) => new
    {
        transactions = transactions ?? [],
        updatedAt = DateTimeOffset.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        legacyResourceId = id.ToString(),
        name = $"#{id}",
        test,
        cancelledAt = (string?)null,
        processedAt = processedAt?.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        customer = customer is null ? null : new { legacyResourceId = customer.ToString() },
        subtotalPriceSet = new { shopMoney = new { amount = subtotal, currencyCode = "EUR" } },
        totalPriceSet = new { shopMoney = new { amount = total, currencyCode = "EUR" },
            presentmentMoney = new { amount = total, currencyCode = "EUR" } },
    };

    private void StubOrdersPage(string? after, object[] nodes, bool hasNext, string? endCursor)
    {
        var request = Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
            .WithBody(new WildcardMatcher("*PaidOrders*" + (after is null ? "\"after\":null" : $"\"after\":\"{after}\"") + "*"));
        Shopify.Server.Given(request).AtPriority(1).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
        {
            data = new { orders = new { pageInfo = new { hasNextPage = hasNext, endCursor }, nodes } },
            extensions = new { cost = new { requestedQueryCost = 50, actualQueryCost = 20,
                throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 1900, restoreRate = 100.0 } } },
        }));
    }

    [Fact]
    public async Task The_sweep_awards_paid_orders_that_never_arrived_and_leaves_delivered_ones_alone()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(7001, 777, 40m, 45m)); // arrived as a webhook
        StubOrdersPage(null, [Node(7001, 777, "40.00", "45.00"), Node(7002, 777, "60.00", "65.00")], hasNext: true, endCursor: "c1");
        StubOrdersPage("c1", [Node(7003, 888, "25.50", "30.00"), Node(7004, null, "99.00", "99.00")], hasNext: false, endCursor: "c2");
        var sweep = App.Services.GetRequiredService<MissedOrderSweep>();

        var awarded = await sweep.SweepShopAsync(Shop, default);
        var again = await sweep.SweepShopAsync(Shop, default);

        Assert.Equal((2, 0), (awarded, again));
        Assert.Equal(100, await App.BalanceAsync(Shop, 777)); // 40 from the webhook + 60 from the sweep
        Assert.Equal(25, await App.BalanceAsync(Shop, 888));
        Assert.Equal("sweep", await App.ScalarAsync<string>("SELECT source FROM order_earnings WHERE shop_domain = @shop AND order_id = 7002",
            new { shop = Shop }));
        var query = JsonDocument.Parse(Shopify.OperationBodies(Shop, "PaidOrders")[0])
            .RootElement.GetProperty("variables").GetProperty("query").GetString();
        Assert.StartsWith("(financial_status:paid OR financial_status:partially_refunded) updated_at:>'", query);
        Assert.NotNull(await App.ScalarAsync<DateTime?>("SELECT swept_until FROM order_sweeps WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task An_order_the_sweep_finds_earns_at_the_rate_in_force_when_it_was_processed()
    {
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            System.Net.Http.Json.JsonContent.Create(new { earnRate = 3m }))))
            .EnsureSuccessStatusCode();
        await Task.Delay(1100);
        var paid = DateTimeOffset.UtcNow;
        await Task.Delay(1100);
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            System.Net.Http.Json.JsonContent.Create(new { earnRate = 7m }))))
            .EnsureSuccessStatusCode();
        StubOrdersPage(null, [Node(7201, 777, "10.00", "10.00", processedAt: paid)], hasNext: false, endCursor: "c1");

        await App.Services.GetRequiredService<MissedOrderSweep>().SweepShopAsync(Shop, default);

        Assert.Equal(30, await App.BalanceAsync(Shop, 777)); // 10 × 3, the rate when it was paid; not 7
        Assert.Contains("processedAt", Shopify.OperationBodies(Shop, "PaidOrders")[0]);
    }

    [Fact]
    public async Task A_pay_later_order_the_sweep_finds_earns_at_the_rate_in_force_when_its_payment_came()
    {
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            System.Net.Http.Json.JsonContent.Create(new { earnRate = 3m })))).EnsureSuccessStatusCode();
        await Task.Delay(1100);
        var placed = DateTimeOffset.UtcNow;
        await Task.Delay(1100);
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            System.Net.Http.Json.JsonContent.Create(new { earnRate = 7m })))).EnsureSuccessStatusCode();
        await Task.Delay(1100);
        static object Transaction(string kind, string status, DateTimeOffset at) => new { kind, status, processedAt = at.ToString("O") };
        // Placed on payment terms while the rate was 3; paid (a manual sale) after the merchant made it 7. A failed attempt and an
        // authorization do not pay an order.
        StubOrdersPage(null, [Node(7301, 777, "10.00", "10.00", processedAt: placed, transactions: [
            Transaction("AUTHORIZATION", "SUCCESS", placed), Transaction("SALE", "FAILURE", placed.AddSeconds(1)),
            Transaction("SALE", "SUCCESS", DateTimeOffset.UtcNow)])], hasNext: false, endCursor: "c1");

        await App.Services.GetRequiredService<MissedOrderSweep>().SweepShopAsync(Shop, default);

        Assert.Equal(70, await App.BalanceAsync(Shop, 777)); // 10 × 7: the rate when it was paid; not 3
        Assert.Contains("transactions", Shopify.OperationBodies(Shop, "PaidOrders")[0]);
    }

    [Fact]
    public async Task A_throttled_sweep_waits_and_carries_on()
    {
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*PaidOrders*")))
            .InScenario("throttle-" + Shop).WillSetStateTo("ok").AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
                extensions = new { cost = new { requestedQueryCost = 102, actualQueryCost = (int?)null,
                    throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 100, restoreRate = 100.0 } } },
            }));
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*PaidOrders*")))
            .InScenario("throttle-" + Shop).WhenStateIs("ok").AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { orders = new { pageInfo = new { hasNextPage = false, endCursor = "x" },
                    nodes = new[] { Node(7101, 777, "10.00", "10.00") } } },
            }));

        var awarded = await App.Services.GetRequiredService<MissedOrderSweep>().SweepShopAsync(Shop, default);

        Assert.Equal(1, awarded);
        Assert.Equal(2, Shopify.OperationBodies(Shop, "PaidOrders").Count);
    }
}
