namespace Loyalty.Tests.Features;

/// <summary>
/// Numbers and dates a client sends at the edges of their types (long.MinValue, long.MaxValue, year 1 or 9999) are
/// refused with a 422 naming the field, before any arithmetic can overflow into a 500.
/// </summary>
public sealed class OutOfRangeNumberTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private Task<HttpResponseMessage> AdminAsync(HttpMethod method, string path, string? json = null, bool idempotent = false)
    {
        var request = App.Admin(method, path, Shop, json is null ? null : Json(json));
        if (idempotent) request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        return App.Http.SendAsync(request);
    }

    private Task<HttpResponseMessage> StorefrontAsync(string path, string json)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath(path, Shop, 777)) { Content = Json(json) };
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        return App.Http.SendAsync(request);
    }

    /// <summary>A 422 whose <c>errors</c> name <paramref name="field"/>.</summary>
    private static async Task AssertFieldErrorAsync(HttpResponseMessage response, string code, string field)
    {
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        var problem = JsonDocument.Parse(body).RootElement;
        Assert.Equal(code, problem.GetProperty("code").GetString());
        Assert.True(problem.TryGetProperty("errors", out var errors) && errors.TryGetProperty(field, out _), $"no error for {field}: {body}");
    }

    [Theory]
    [InlineData(long.MinValue)]
    [InlineData(long.MaxValue)]
    [InlineData(-1_000_001)]
    public async Task Bonus_points_at_the_edges_of_long_are_refused_with_a_field_error(long points)
    {
        var response = await AdminAsync(HttpMethod.Post, "/api/admin/customers/777/points", $$"""{"points":{{points}},"description":"edge"}""",
            idempotent: true);

        await AssertFieldErrorAsync(response, "invalid_points", "points");
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }

    [Theory]
    [InlineData(9_223_372_036_854_775_800)] // a multiple of the step, as close to long.MaxValue as one gets
    [InlineData(100_000_000_100)]
    public async Task Converting_more_points_than_any_shop_allows_is_refused_with_a_field_error(long points)
    {
        var response = await StorefrontAsync("/proxy/api/conversions", $$"""{"points":{{points}}}""");

        await AssertFieldErrorAsync(response, "invalid_points", "points");
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM conversions WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Theory]
    [InlineData(long.MaxValue)]
    [InlineData(long.MinValue)]
    public async Task Donating_points_at_the_edges_of_long_is_refused_with_a_field_error(long points)
    {
        var response = await StorefrontAsync("/proxy/api/donations", $$"""{"points":{{points}},"cause":"Trees"}""");

        await AssertFieldErrorAsync(response, "invalid_points", "points");
    }

    [Theory]
    [InlineData("""{"title":"Huge","fixedAmount":5,"code":"HUGE1","minimumSubtotal":99999999999999999999}""", "minimumSubtotal")]
    [InlineData("""{"title":"Far","fixedAmount":5,"code":"FAR1","startsAt":"9999-12-31T00:00:00Z"}""", "startsAt")]
    [InlineData("""{"title":"Old","fixedAmount":5,"code":"OLD1","startsAt":"0001-01-01T00:00:00Z","endsAt":"0001-01-02T00:00:00Z"}""", "startsAt")]
    [InlineData("""{"title":"Big","fixedAmount":79228162514264337593543950335,"code":"BIG1"}""", "fixedAmount")]
    [InlineData("""{"title":"Pct","percentage":-79228162514264337593543950335,"code":"PCT1"}""", "percentage")]
    public async Task Campaign_amounts_and_dates_out_of_range_are_refused_with_a_field_error(string json, string field)
    {
        var response = await AdminAsync(HttpMethod.Post, "/api/admin/campaigns", json, idempotent: true);

        await AssertFieldErrorAsync(response, "invalid_campaign", field);
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Theory]
    [InlineData("""{"earnRate":79228162514264337593543950335}""", "earnRate")]
    [InlineData("""{"pointValue":-79228162514264337593543950335}""", "pointValue")]
    [InlineData("""{"minConversion":-9223372036854775808}""", "minConversion")]
    [InlineData("""{"conversionStep":-9223372036854775808}""", "conversionStep")]
    [InlineData("""{"dailyConversionLimit":9223372036854775807}""", "dailyConversionLimit")]
    [InlineData("""{"feedbackBonus":-9223372036854775808}""", "feedbackBonus")]
    [InlineData("""{"couponValidityDays":-2147483648}""", "couponValidityDays")]
    public async Task Settings_at_the_edges_of_their_types_are_refused_with_a_field_error(string json, string field)
    {
        var response = await AdminAsync(HttpMethod.Put, "/api/admin/settings", json);

        await AssertFieldErrorAsync(response, "invalid_settings", field);
    }

    [Theory]
    [InlineData("/api/admin/dashboard?to=0001-01-01T00:00:00Z", "to")]
    [InlineData("/api/admin/reports/coupons?to=0001-01-01T00:00:00Z", "to")]
    [InlineData("/api/admin/dashboard?from=0001-01-01T00:00:00Z&to=0001-01-05T00:00:00Z", "from")]
    public async Task Report_periods_at_the_edge_of_the_calendar_are_refused_with_a_field_error(string path, string field)
    {
        var response = await AdminAsync(HttpMethod.Get, path);

        await AssertFieldErrorAsync(response, "invalid_period", field);
    }
}
