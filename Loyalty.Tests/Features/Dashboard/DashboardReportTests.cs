using Loyalty.Tests.Features.Conversion;

namespace Loyalty.Tests.Features.Dashboard;

/// <summary>The merchant's overview: points issued/redeemed/outstanding, coupons issued/used, per day for the chart.</summary>
public sealed class DashboardReportTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    private async Task<JsonElement> ReportAsync(string query = "")
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/dashboard" + query, Shop));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task Points_and_coupons_of_the_period_add_up_and_the_days_carry_them()
    {
        Shopify.StubDiscountCreate(Shop);
        await GiveAsync(1000);
        var adjust = App.Admin(HttpMethod.Post, $"/api/admin/customers/{Customer}/points", Shop,
            JsonContent.Create(new { points = -100, description = "correction" }));
        adjust.Headers.Add("Idempotency-Key", "adjust-1");
        (await App.Http.SendAsync(adjust)).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Created, (await ConvertAsync(500, "dash-1")).StatusCode);

        var report = await ReportAsync();

        var totals = report.GetProperty("totals");
        Assert.Equal(1000, totals.GetProperty("pointsIssued").GetInt64());
        Assert.Equal(100, totals.GetProperty("pointsTakenBack").GetInt64());
        Assert.Equal(500, totals.GetProperty("pointsRedeemed").GetInt64());
        Assert.Equal(400, totals.GetProperty("pointsOutstanding").GetInt64());
        Assert.Equal(1, totals.GetProperty("couponsIssued").GetInt64());
        Assert.Equal(0, totals.GetProperty("couponsUsed").GetInt64());
        var days = report.GetProperty("days").EnumerateArray().ToList();
        Assert.Equal(LocalDays(report), days.Count); // the default 30 days, in the shop's own days (30 or 31 with DST)
        var today = days[^1];
        Assert.Equal(1000, today.GetProperty("pointsIssued").GetInt64());
        Assert.Equal(500, today.GetProperty("pointsRedeemed").GetInt64());
        Assert.Equal(1, today.GetProperty("couponsIssued").GetInt64());
        Assert.All(days[..^1], d => Assert.Equal(0, d.GetProperty("pointsIssued").GetInt64()));

        // A period before any of it holds nothing (outstanding is a balance now, not of the period).
        var before = await ReportAsync("?from=2026-01-01T00:00:00Z&to=2026-01-08T00:00:00Z");
        Assert.Equal(0, before.GetProperty("totals").GetProperty("pointsIssued").GetInt64());
        // Days are the shop's own (its time zone from Shopify): a week in UTC touches 7 or 8 of them.
        Assert.Equal(LocalDays(before), before.GetProperty("days").GetArrayLength());
        var zone = TimeZoneInfo.FindSystemTimeZoneById(before.GetProperty("timeZone").GetString()!);
        var first = DateOnly.FromDateTime(TimeZoneInfo.ConvertTime(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero), zone).DateTime);
        Assert.Equal(first.ToString("yyyy-MM-dd"), before.GetProperty("days")[0].GetProperty("date").GetString());
    }

    /// <summary>The shop-local calendar days the report's [from, to) touches.</summary>
    private static int LocalDays(JsonElement report)
    {
        var zone = TimeZoneInfo.FindSystemTimeZoneById(report.GetProperty("timeZone").GetString()!);
        var from = TimeZoneInfo.ConvertTime(report.GetProperty("from").GetDateTimeOffset(), zone);
        var to = TimeZoneInfo.ConvertTime(report.GetProperty("to").GetDateTimeOffset().AddTicks(-10), zone);
        return DateOnly.FromDateTime(to.DateTime).DayNumber - DateOnly.FromDateTime(from.DateTime).DayNumber + 1;
    }

    [Theory]
    [InlineData("?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z")]
    [InlineData("?from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z")]
    public async Task A_backwards_or_overlong_period_is_refused(string query)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/dashboard" + query, Shop));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("invalid_period", await response.Content.ReadAsStringAsync());
    }
}
