namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// The customer's <c>loyalty.coupons</c> metafield stays within a bound, and a write that keeps failing goes to the
/// merchant instead of being retried forever (issue 12, leak 7; both failed before the fix: the list held every coupon
/// ever issued, and the reconciler wrote again on every run).
/// </summary>
public sealed class CouponsMetafieldTests(CouponsMetafieldTests.BoundedApp app) : ConversionTestBase<CouponsMetafieldTests.BoundedApp>(app)
{
    public sealed class BoundedApp() : ConversionApp(new()
    {
        ["Conversion:MetafieldMaxEntries"] = "3",
        ["Conversion:MetafieldMaxFailures"] = "3",
    });

    private int Writes => Shopify.OperationBodies(Shop, "SetLoyaltyCoupons").Count;

    private IReadOnlyList<string> LastListedCodes() =>
        JsonDocument.Parse(JsonDocument.Parse(Shopify.OperationBodies(Shop, "SetLoyaltyCoupons")[^1]).RootElement
                .GetProperty("variables").GetProperty("metafields")[0].GetProperty("value").GetString()!)
            .RootElement.EnumerateArray().Select(e => e.GetProperty("code").GetString()!).ToList();

    [Fact]
    public async Task The_list_holds_the_newest_coupons_up_to_its_bound()
    {
        await GiveAsync(10_000);
        Shopify.StubDiscountCreate(Shop);
        var codes = new List<string>();
        for (var i = 0; i < 5; i++)
        {
            var body = await (await ConvertAsync(100, $"bound-{i}")).Content.ReadFromJsonAsync<JsonElement>();
            codes.Add(body.GetProperty("code").GetString()!);
        }

        Assert.Equal(codes[2..], LastListedCodes()); // the three newest, oldest first
    }

    [Fact]
    public async Task A_write_that_keeps_failing_goes_to_the_merchant_and_is_retried_when_they_resolve_it()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        Shopify.StubMetafieldsSetRefused(Shop);
        var id = (await (await ConvertAsync(500, "meta-fails")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString()!;

        for (var i = 0; i < 6; i++) await ReconcileAsync();

        Assert.Equal(3, Writes); // the request's and two reconciler runs: then it waits for the merchant
        var incident = Assert.Single((await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/coupon-incidents", Shop)))
            .Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray());
        Assert.Equal(("metafield_write_failed", id, JsonValueKind.Null), (incident.GetProperty("kind").GetString(),
            incident.GetProperty("conversionId").GetString(), incident.GetProperty("orderId").ValueKind));
        Assert.Contains("too big", incident.GetProperty("detail").GetString());
        Assert.Equal("completed", await StateAsync(id)); // the coupon and the points are right all along

        // The merchant trimmed what made it too big: Shopify takes the write now.
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
                .WithBody(new WireMock.Matchers.WildcardMatcher("*SetLoyaltyCoupons*"))).AtPriority(0)
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { metafieldsSet = new { metafields = new[] { new { id = "gid://shopify/Metafield/1" } },
                    userErrors = Array.Empty<object>() } },
            }));
        var resolved = await App.Http.SendAsync(App.Admin(HttpMethod.Post,
            $"/api/admin/coupon-incidents/{incident.GetProperty("id").GetInt64()}/resolve",
            Shop, JsonContent.Create(new { resolution = "Removed old entries from the metafield" })));
        Assert.Equal(HttpStatusCode.OK, resolved.StatusCode);
        await ReconcileAsync();

        Assert.Equal(4, Writes);
        Assert.NotNull(await App.ScalarAsync<DateTime?>("SELECT metafield_synced_at FROM conversions WHERE id = @id", new { id }));
    }
}
