namespace Loyalty.Tests.Features.Conversion;

/// <summary>The merchant's actions on conversions the reconciler could not settle: retry where it stopped, or cancel.</summary>
public sealed class ConversionReviewTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    private async Task<string> InReviewAsync(string from, string? discountId = "gid://shopify/DiscountCodeNode/1001", string balanceSource = "ledger")
    {
        var id = await LeftBehindAsync(from, discountId: discountId, balanceSource: balanceSource);
        await App.ScalarAsync<int>(
            "UPDATE conversions SET state = 'needs_review', review_from = state, failure_reason = 'While ' || state || ': test' WHERE id = @id",
            new { id });
        return id;
    }

    private Task<HttpResponseMessage> ActAsync(string id, string action, string? shop = null) =>
        App.Http.SendAsync(App.Admin(HttpMethod.Post, $"/api/admin/conversions/{id}/{action}", shop ?? Shop, JsonContent.Create(new { })));

    private static async Task<string?> CodeOf(HttpResponseMessage response) =>
        (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();

    [Fact]
    public async Task The_reconciler_records_the_step_a_conversion_stopped_at_when_it_sends_it_to_review()
    {
        Shopify.ResetMappings(Shop);
        Shopify.StubDiscountDelete(Shop, userError: "Discount is locked by another app");
        var id = await LeftBehindAsync("compensating", discountId: "gid://shopify/DiscountCodeNode/9", failureCode: "insufficient_points");

        await ReconcileAsync();

        Assert.Equal("needs_review", await StateAsync(id));
        Assert.Equal("compensating", await App.ScalarAsync<string>("SELECT review_from FROM conversions WHERE id = @id", new { id }));
    }

    [Fact]
    public async Task Retry_resumes_the_step_it_stopped_at_and_completes_with_one_deduction()
    {
        await GiveAsync(1000);
        var id = await InReviewAsync("coupon_created");

        var response = await ActAsync(id, "retry");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var item = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("completed", item.GetProperty("state").GetString());
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
        Assert.Equal(0, Deletes);
        // the staff member (session token sub)
        Assert.Equal("42", await App.ScalarAsync<string>("SELECT reviewed_by FROM conversions WHERE id = @id", new { id }));

        var again = await ActAsync(id, "retry");
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        Assert.Contains("not_in_review", await again.Content.ReadAsStringAsync());
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task Cancel_withdraws_the_coupon_in_Shopify_and_takes_no_points()
    {
        await GiveAsync(1000);
        var id = await InReviewAsync("coupon_created");

        var response = await ActAsync(id, "cancel");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("failed", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString());
        Assert.Equal(1, Deletes);
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
        Assert.Equal("cancelled_by_merchant", await App.ScalarAsync<string>("SELECT failure_code FROM conversions WHERE id = @id", new { id }));
    }

    [Theory]
    [InlineData("settling", "ledger")]
    [InlineData("coupon_created", "pos")]
    public async Task Cancel_is_refused_while_the_POS_may_have_taken_the_points(string from, string balanceSource)
    {
        var id = await InReviewAsync(from, balanceSource: balanceSource);
        if (balanceSource == "pos") await App.ScalarAsync<int>("UPDATE conversions SET deduct_attempted_at = now() WHERE id = @id", new { id });

        var response = await ActAsync(id, "cancel");

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("deduction_outcome_unknown", await response.Content.ReadAsStringAsync());
        Assert.Equal("needs_review", await StateAsync(id));
        Assert.Equal(0, Deletes);
    }

    [Fact]
    public async Task Actions_on_unknown_or_other_shops_conversions_are_not_found()
    {
        var id = await InReviewAsync("coupon_created");
        var other = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, other);

        Assert.Equal(HttpStatusCode.NotFound, (await ActAsync("conv_DOESNOTEXIST0000000000000", "retry")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await ActAsync(id, "cancel", other)).StatusCode);
        Assert.Equal("needs_review", await StateAsync(id));
    }
}
