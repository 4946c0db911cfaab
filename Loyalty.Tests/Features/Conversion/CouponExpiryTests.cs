namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// The shop's default expiry (<c>couponValidityDays</c>, 30 days unless the merchant changes it) is what Shopify receives as
/// <c>endsAt</c> for a loyalty coupon and for a campaign that names no end, alike.
/// </summary>
public sealed class CouponExpiryTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    private (DateTimeOffset StartsAt, DateTimeOffset EndsAt) SentToShopify(int index)
    {
        var input = JsonDocument.Parse(Shopify.OperationBodies(Shop, "CreateLoyaltyCode")[index]).RootElement
            .GetProperty("variables").GetProperty("input");
        return (input.GetProperty("startsAt").GetDateTimeOffset(), input.GetProperty("endsAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task A_loyalty_coupon_ends_after_the_default_expiry_and_a_changed_one_applies_to_the_next()
    {
        Shopify.StubDiscountCreate(Shop);
        await GiveAsync(1000);

        Assert.Equal(HttpStatusCode.Created, (await ConvertAsync(100, "e1")).StatusCode);
        await SetAsync(new { couponValidityDays = 7 });
        Assert.Equal(HttpStatusCode.Created, (await ConvertAsync(100, "e2")).StatusCode);

        var (start1, end1) = SentToShopify(0);
        var (start2, end2) = SentToShopify(1);
        Assert.Equal(TimeSpan.FromDays(30), end1 - start1);
        Assert.Equal(TimeSpan.FromDays(7), end2 - start2);
    }

    [Fact]
    public async Task A_campaign_that_names_no_end_ends_after_the_shops_default_expiry()
    {
        Shopify.StubDiscountCreate(Shop);
        await SetAsync(new { couponValidityDays = 45 });
        using var request = App.Admin(HttpMethod.Post, "/api/admin/campaigns", Shop,
            JsonContent.Create(new { title = "Spring", fixedAmount = 5, code = "SPRING5", startsAt = "2027-03-01T09:00:00Z" }));
        request.Headers.Add("Idempotency-Key", "spring");

        Assert.Equal(HttpStatusCode.Created, (await App.Http.SendAsync(request)).StatusCode);

        Assert.Equal((DateTimeOffset.Parse("2027-03-01T09:00:00Z"), DateTimeOffset.Parse("2027-04-15T09:00:00Z")), SentToShopify(0));
    }
}
