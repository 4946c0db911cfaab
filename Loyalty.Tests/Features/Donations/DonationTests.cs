using Loyalty.ShopifyApp.Features.Donations;
using Loyalty.Tests.Features.Conversion;

namespace Loyalty.Tests.Features.Donations;

/// <summary>Donating points to a cause: deducted once, recorded as a pledge, totalled per cause for the merchant.</summary>
public sealed class DonationTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    private Task<HttpResponseMessage> DonateAsync(long points, string cause, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/donations", Shop, Customer))
        {
            Content = new StringContent(JsonSerializer.Serialize(new { points, cause }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", key);
        return App.Http.SendAsync(request);
    }

    [Fact]
    public async Task Donations_deduct_once_per_key_and_the_merchant_sees_totals_per_cause()
    {
        await GiveAsync(1000);

        Assert.Equal(HttpStatusCode.Created, (await DonateAsync(200, "Beach clean-up", "d1")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await DonateAsync(200, "Beach clean-up", "d1")).StatusCode); // replay
        Assert.Equal(HttpStatusCode.Created, (await DonateAsync(100, "Food bank", "d2")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await DonateAsync(50, "Beach clean-up", "d3")).StatusCode);
        Assert.Contains("insufficient_points", await (await DonateAsync(5000, "Food bank", "d4")).Content.ReadAsStringAsync());
        Assert.Contains("idempotency_key_reused", await (await DonateAsync(10, "Food bank", "d1")).Content.ReadAsStringAsync());
        Assert.Contains("invalid_cause", await (await DonateAsync(10, " ", "d5")).Content.ReadAsStringAsync());

        Assert.Equal(650, await App.BalanceAsync(Shop, Customer));
        var totals = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/donations",
            Shop))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("Beach clean-up", 250L, 2L), (totals[0].GetProperty("cause").GetString(), totals[0].GetProperty("points").GetInt64(),
            totals[0].GetProperty("donations").GetInt64()));
        Assert.Equal(("Food bank", 100L), (totals[1].GetProperty("cause").GetString(), totals[1].GetProperty("points").GetInt64()));
    }

    [Fact]
    public async Task A_donation_carries_the_money_it_represents_at_the_point_value_of_when_it_was_made()
    {
        await GiveAsync(1000);
        await SetAsync(new { pointValue = 0.05m });
        var donated = await (await DonateAsync(200, "Food bank", "v1")).Content.ReadFromJsonAsync<JsonElement>();
        await SetAsync(new { pointValue = 0.10m }); // later donations are worth more; the first keeps its value
        await DonateAsync(100, "Food bank", "v2");

        Assert.Equal((10m, "EUR"), (donated.GetProperty("value").GetDecimal(), donated.GetProperty("currency").GetString()));
        var total = (await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/donations",
            Shop))).Content.ReadFromJsonAsync<JsonElement>())[0];
        Assert.Equal((300L, 20m, "EUR"), (total.GetProperty("points").GetInt64(), total.GetProperty("value").GetDecimal(),
            total.GetProperty("currency").GetString()));
        var csv = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/donations?format=csv", Shop))).Content.ReadAsStringAsync();
        Assert.Equal("cause,donations,points,value,currency,customers\n\"Food bank\",2,300,20.00,EUR,1\n", csv);

        // The customer's redemption history lists the donations beside their coupons, with what each was for and its value.
        Shopify.StubDiscountCreate(Shop);
        var code = (await (await ConvertAsync(100, "v3")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        var history = await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/redemptions", Shop, Customer));
        Assert.Equal([("coupon", code, 100L, 10m, "active", true), ("donation", "Food bank", 100L, 10m, "completed", false),
            ("donation", "Food bank", 200L, 10m, "completed", false)], history.EnumerateArray()
            .Select(r => (r.GetProperty("kind").GetString(), r.GetProperty("kind").GetString() == "coupon" ? r.GetProperty("code").GetString()
                : r.GetProperty("cause").GetString(),
                r.GetProperty("points").GetInt64(), r.GetProperty("value").GetDecimal(), r.GetProperty("status").GetString(),
                r.GetProperty("active").GetBoolean())).ToList());
    }

    [Fact]
    public async Task A_POS_donation_whose_outcome_is_unknown_is_pending_until_settled_by_reference()
    {
        await UsePosAsync(balance: 1000);
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points/deductions").UsingPost()).RespondWith(
            Response.Create().WithStatusCode(503));

        var response = await DonateAsync(300, "Food bank", "pd1");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("donationId").GetString()!;
        Pos.Given(Request.Create().WithPath($"/transactions/{id}").UsingGet()).RespondWith(Response.Create().WithStatusCode(200)
            .WithBodyAsJson(new { transactionId = "t9", customerId = "777", reference = id, points = -300, createdAt = "2026-11-23T10:00:00Z" }));

        await App.Services.GetRequiredService<DonationSettler>().RunAsync(default);

        Assert.Equal("completed", await App.ScalarAsync<string>("SELECT state FROM donations WHERE id = @id", new { id }));
        Assert.Equal(-300L, await App.ScalarAsync<long>("SELECT points FROM point_transactions WHERE reference = @id", new { id }));
    }

    [Fact]
    public async Task A_donation_the_settler_cannot_work_on_does_not_stop_it_settling_the_others()
    {
        await UsePosAsync(balance: 1000);
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points/deductions").UsingPost()).RespondWith(
            Response.Create().WithStatusCode(503));
        var id = (await (await DonateAsync(300, "Food bank", "pd2")).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("donationId").GetString()!;
        Pos.Given(Request.Create().WithPath($"/transactions/{id}").UsingGet()).RespondWith(Response.Create().WithStatusCode(200)
            .WithBodyAsJson(new { transactionId = "t10", customerId = "777", reference = id, points = -300, createdAt = "2026-11-23T10:00:00Z" }));
        // An older pending donation of another shop whose POS key the app can no longer read (its key ring was lost).
        var other = await Fixture.NewShopAsync();
        using var saved = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", other,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = "pos-key" })));
        Assert.Equal(HttpStatusCode.OK, saved.StatusCode);
        await App.ScalarAsync<int>("UPDATE shop_settings SET pos_api_key_protected = 'CfDJ8-unreadable' WHERE shop_domain = @other", new { other });
        // A hundred of them, older than this shop's: as many as one run takes.
        await App.ScalarAsync<int>("""
            INSERT INTO donations SELECT (jsonb_populate_record(d, jsonb_build_object(
                'id', 'don_POISON' || n || substr(d.id, 5), 'shop_domain', @other::text, 'idempotency_key', 'poison-' || n,
                'created_at', d.created_at - interval '1 minute'))).*
            FROM donations d, generate_series(1, 100) n WHERE d.id = @id
            """, new { id, other });
        var settler = App.Services.GetRequiredService<DonationSettler>();

        var settled = await settler.RunAsync(default) + await settler.RunAsync(default);

        Assert.Equal(1, settled);
        Assert.Equal("completed", await App.ScalarAsync<string>("SELECT state FROM donations WHERE id = @id", new { id }));
        Assert.Equal(100, await App.ScalarAsync<int>("SELECT count(*)::int FROM donations WHERE shop_domain = @other AND state = 'pending'",
            new { other }));
        // They would come first in every later test's run on this class's app (no retry delay here): out of the way.
        await App.ScalarAsync<int>("UPDATE donations SET state = 'failed' WHERE shop_domain = @other", new { other });
    }

    [Fact]
    public async Task A_NUL_character_in_a_donation_cause_is_refused_with_a_field_error()
    {
        await GiveAsync(1000);
        var request = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/donations", Shop, Customer))
        {
            Content = new StringContent("""{"points":100,"cause":"Food\u0000bank"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Add("Idempotency-Key", "nul-1");

        using var response = await App.Http.SendAsync(request);

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("cause", out _));
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
    }
}
