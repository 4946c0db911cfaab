namespace Loyalty.Tests.Features.Points;

/// <summary>
/// The merchant's read-only list of the shop's whole ledger: newest first, filtered by customer, kind and period, paged,
/// exportable as CSV, each row naming the order it came from; never another shop's rows.
/// </summary>
public sealed class PointTransactionsTests(AppFixture app) : AppTests<AppFixture>(app)
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        (await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { earnRate = 2, earnBasis = "total" }))))
            .EnsureSuccessStatusCode();
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(5101, 501, 100m, 120m));
        await GiveAsync(502, 300, "=HYPERLINK(\"http://evil\")", "b1");
        await GiveAsync(501, -50, "Correction", "b2");
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(5102, 502, 10m, 10m));
    }

    private async Task GiveAsync(long customer, long points, string description, string key)
    {
        var request = App.Admin(HttpMethod.Post, $"/api/admin/customers/{customer}/points", Shop, JsonContent.Create(new { points, description }));
        request.Headers.Add("Idempotency-Key", key);
        (await App.Http.SendAsync(request)).EnsureSuccessStatusCode();
    }

    private async Task<JsonElement> ListAsync(string query, string? shop = null)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/point-transactions" + query, shop ?? Shop));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static List<string> References(JsonElement page) =>
        page.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("reference").GetString()!).ToList();

    [Fact]
    public async Task The_merchant_sees_every_row_of_the_shop_newest_first_with_the_order_and_rate_it_came_from()
    {
        var page = await ListAsync("");

        Assert.Equal(["order:5102", "bonus:b2", "bonus:b1", "order:5101"], References(page));
        var award = page.GetProperty("items")[3];
        Assert.Equal((501L, "order_award", 240L, 5101L, 2m, 120m, "EUR", 240L),
            (award.GetProperty("customerId").GetInt64(), award.GetProperty("kind").GetString(),
            award.GetProperty("points").GetInt64(), award.GetProperty("orderId").GetInt64(), award.GetProperty("rate").GetDecimal(),
            award.GetProperty("basisAmount").GetDecimal(), award.GetProperty("currency").GetString(), award.GetProperty("balanceAfter").GetInt64()));
        Assert.Equal(JsonValueKind.Null, page.GetProperty("nextBefore").ValueKind);

        var other = await Fixture.NewShopAsync();
        Assert.Empty(References(await ListAsync("", other)));
    }

    [Fact]
    public async Task Filters_by_customer_kind_and_period_narrow_the_list()
    {
        Assert.Equal(["bonus:b2", "order:5101"], References(await ListAsync("?customerId=501")));
        Assert.Equal(["order:5102", "order:5101"], References(await ListAsync("?kind=order_award")));
        Assert.Equal(["bonus:b2"], References(await ListAsync("?customerId=501&kind=manual_adjustment")));
        var tomorrow = Uri.EscapeDataString(DateTimeOffset.UtcNow.AddDays(1).ToString("O"));
        Assert.Empty(References(await ListAsync($"?from={tomorrow}")));
        Assert.Equal(4, References(await ListAsync($"?to={tomorrow}")).Count);
    }

    [Fact]
    public async Task Pages_follow_each_other_without_gaps_or_repeats()
    {
        var first = await ListAsync("?limit=3");
        var next = first.GetProperty("nextBefore").GetInt64();
        var second = await ListAsync($"?limit=3&before={next}");

        Assert.Equal(["order:5102", "bonus:b2", "bonus:b1"], References(first));
        Assert.Equal(["order:5101"], References(second));
        Assert.Equal(JsonValueKind.Null, second.GetProperty("nextBefore").ValueKind);
    }

    [Fact]
    public async Task The_csv_export_holds_every_matching_row_and_defuses_formulas()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/point-transactions?format=csv&limit=1", Shop));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/csv", response.Content.Headers.ContentType!.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).TrimEnd('\n').Split('\n');
        Assert.StartsWith("id,created_at,customer_id,kind,points,balance_after,order_id,", lines[0]);
        Assert.Equal(5, lines.Length); // the page limit does not apply to the export
        Assert.Contains(",501,order_award,240,240,5101,,,2.0000,120.0000,EUR,system,", lines[4]);
        Assert.Contains("\"'=HYPERLINK(\"\"http://evil\"\")\"", lines[3]); // a formula is text in a spreadsheet
    }

    [Theory]
    [InlineData("?kind=refund", "kind")]
    [InlineData("?customerId=0", "customerId")]
    [InlineData("?limit=501", "limit")]
    [InlineData("?before=-1", "before")]
    [InlineData("?format=xml", "format")]
    [InlineData("?from=1900-01-01T00:00:00Z", "from")]
    [InlineData("?from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z", "from")]
    public async Task A_filter_that_makes_no_sense_is_a_422_naming_the_field(string query, string field)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/point-transactions" + query, Shop));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid_filter", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _));
    }
}
