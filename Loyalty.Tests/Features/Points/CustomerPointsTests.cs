namespace Loyalty.Tests.Features.Points;

/// <summary>Bonus points and adjustments by staff, the merchant's customer view, and customer feedback.</summary>
public sealed class CustomerPointsTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private Task<HttpResponseMessage> GiveAsync(long customer, long points, string? key, string? description = "Event attendance",
        string? shop = null)
    {
        var request = App.Admin(HttpMethod.Post, $"/api/admin/customers/{customer}/points", shop ?? Shop,
            JsonContent.Create(new { points, description }));
        if (key is not null) request.Headers.Add("Idempotency-Key", key);
        return App.Http.SendAsync(request);
    }

    [Fact]
    public async Task Bonus_points_are_added_once_per_idempotency_key_and_recorded_with_the_staff_user()
    {
        var first = await GiveAsync(777, 250, "evt-1");
        var replay = await GiveAsync(777, 250, "evt-1");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.True((await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("replayed").GetBoolean());
        Assert.Equal(250, await App.BalanceAsync(Shop, 777));
        Assert.Equal("bonus|staff|42", await App.ScalarAsync<string>(
            "SELECT kind || '|' || actor_type || '|' || actor_id FROM point_transactions WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task Reusing_an_idempotency_key_for_another_request_is_a_409()
    {
        await GiveAsync(777, 250, "evt-2");

        var conflict = await GiveAsync(777, 300, "evt-2");

        Assert.Equal(HttpStatusCode.Conflict, conflict.StatusCode);
        Assert.Contains("idempotency_key_reused", await conflict.Content.ReadAsStringAsync());
        Assert.Equal(250, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task Bad_bonus_requests_get_clear_errors()
    {
        Assert.Equal(HttpStatusCode.BadRequest, (await GiveAsync(777, 10, null)).StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await GiveAsync(777, 10, "has space")).StatusCode);
        Assert.Contains("invalid_points", await (await GiveAsync(777, 0, "k1")).Content.ReadAsStringAsync());
        Assert.Contains("invalid_description", await (await GiveAsync(777, 10, "k2", description: " ")).Content.ReadAsStringAsync());
        var overdraw = await GiveAsync(777, -10, "k3", description: "correction");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, overdraw.StatusCode);
        Assert.Contains("insufficient_points", await overdraw.Content.ReadAsStringAsync());
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task The_merchant_sees_the_customers_balance_totals_and_paged_history_of_their_own_shop_only()
    {
        for (var i = 0; i < 5; i++) await GiveAsync(777, 10 + i, $"p-{i}");
        await GiveAsync(777, -20, "adj", description: "correction");
        var other = LoyaltyApp.NewShop();
        await App.InstallAsync(Shopify, other);

        var page1 = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/customers/777?limit=4",
            Shop))).Content.ReadFromJsonAsync<JsonElement>();
        var page2 = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get,
            $"/api/admin/customers/777?limit=4&before={page1.GetProperty("nextBefore").GetInt64()}", Shop))).Content.ReadFromJsonAsync<JsonElement>();
        var foreign = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/customers/777",
            other))).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal((40L, 40L, 0L), (page1.GetProperty("balance").GetInt64(), page1.GetProperty("totalEarned").GetInt64(),
            page1.GetProperty("totalRedeemed").GetInt64()));
        Assert.Equal(4, page1.GetProperty("history").GetArrayLength());
        Assert.Equal(2, page2.GetProperty("history").GetArrayLength());
        Assert.Equal(0, foreign.GetProperty("balance").GetInt64());
        Assert.Empty(foreign.GetProperty("history").EnumerateArray());
    }

    private Task<HttpResponseMessage> FeedbackAsync(long? customer, object body, string contentType = "application/json") =>
        App.Http.PostAsync(LoyaltyApp.ProxyPath("/proxy/api/feedback", Shop, customer),
            new StringContent(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, contentType));

    [Fact]
    public async Task Feedback_earns_the_bonus_once_a_day_and_every_feedback_is_kept()
    {
        var first = await (await FeedbackAsync(777, new { message = "Great shop, quick delivery!",
            rating = 5 })).Content.ReadFromJsonAsync<JsonElement>();
        var second = await (await FeedbackAsync(777, new { message = "Also the packaging was nice." })).Content.ReadFromJsonAsync<JsonElement>();

        Assert.True(first.GetProperty("bonusAwarded").GetBoolean());
        Assert.False(second.GetProperty("bonusAwarded").GetBoolean());
        Assert.Equal(("daily_limit_reached", 1), (second.GetProperty("reason").GetString(), second.GetProperty("dailyLimit").GetInt32()));
        Assert.Equal(10, await App.BalanceAsync(Shop, 777));
        // My Page can say the rule before the customer writes: the bonus and how many feedbacks a day earn it.
        var rules = (await App.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, 777))).GetProperty("rules");
        Assert.Equal((10L, 1), (rules.GetProperty("feedbackBonus").GetInt64(), rules.GetProperty("feedbackDailyLimit").GetInt32()));
        Assert.Equal(2L, await App.ScalarAsync<long>("SELECT count(*) FROM customer_feedback WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task Concurrent_feedback_cannot_farm_more_than_the_daily_limit()
    {
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => FeedbackAsync(777, new { message = $"Feedback number {i} here" })));

        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        Assert.Equal(10, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task Feedback_needs_a_logged_in_customer_json_and_a_real_message()
    {
        var anonymous = await FeedbackAsync(null, new { message = "Anonymous feedback here" });
        var form = await FeedbackAsync(777, new { message = "Sent as a cross-site form" }, "application/x-www-form-urlencoded");
        var tooShort = await FeedbackAsync(777, new { message = "ok" });
        var badRating = await FeedbackAsync(777, new { message = "Fine enough shop", rating = 9 });

        Assert.Contains("customer_not_logged_in", await anonymous.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Contains("invalid_feedback", await tooShort.Content.ReadAsStringAsync());
        Assert.Contains("invalid_rating", await badRating.Content.ReadAsStringAsync());
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task My_points_need_a_logged_in_customer()
    {
        var response = await App.Http.GetAsync(LoyaltyApp.ProxyPath("/proxy/api/me", Shop, null));

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("customer_not_logged_in", await response.Content.ReadAsStringAsync());
    }

    private async Task<(HttpStatusCode Status, string Body)> SendJsonAsync(HttpRequestMessage request, string json, bool idempotent = false)
    {
        request.Content = new StringContent(json, System.Text.Encoding.UTF8, "application/json");
        if (idempotent) request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        using var response = await App.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_NUL_character_in_a_bonus_description_is_refused_with_a_field_error()
    {
        var (status, body) = await SendJsonAsync(App.Admin(HttpMethod.Post, "/api/admin/customers/777/points", Shop),
            """{"points":5,"description":"welcome\u0000"}""", idempotent: true);

        Assert.True(status == HttpStatusCode.UnprocessableEntity, $"{(int)status}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty("description", out _), body);
        Assert.Equal(0, await App.BalanceAsync(Shop, 777));
    }

    [Fact]
    public async Task A_NUL_character_in_feedback_is_refused_with_a_field_error()
    {
        var (status, body) = await SendJsonAsync(new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/feedback", Shop, 777)),
            """{"message":"Great shop\u0000, thanks!","rating":5}""");

        Assert.True(status == HttpStatusCode.UnprocessableEntity, $"{(int)status}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty("message", out _), body);
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM customer_feedback WHERE shop_domain = @shop", new { shop = Shop }));
    }
}
