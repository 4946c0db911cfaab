namespace Loyalty.Tests.Features.Settings;

public sealed class SettingsTests(AppFixture app) : AppTests<AppFixture>(app)
{
    private Task<HttpResponseMessage> PutAsync(object body) =>
        App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop, JsonContent.Create(body)));

    [Fact]
    public async Task A_new_shop_runs_on_the_documented_defaults()
    {
        var s = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/settings", Shop))).Content.ReadFromJsonAsync<JsonElement>();

        Assert.Equal(1m, s.GetProperty("earnRate").GetDecimal());
        Assert.Equal("subtotal", s.GetProperty("earnBasis").GetString());
        Assert.Equal(100, s.GetProperty("minConversion").GetInt64());
        Assert.Equal(100, s.GetProperty("conversionStep").GetInt64());
        Assert.Equal(10000, s.GetProperty("dailyConversionLimit").GetInt64());
        Assert.Equal(30, s.GetProperty("couponValidityDays").GetInt32()); // seed 001's default expiry
        Assert.Equal(10, s.GetProperty("feedbackBonus").GetInt64());
        Assert.Equal("ledger", s.GetProperty("balanceSource").GetString());
        Assert.False(s.GetProperty("posApiKeySet").GetBoolean());
    }

    [Fact]
    public async Task Every_invalid_field_is_named_in_one_422_and_nothing_is_saved()
    {
        var before = await SavedAsync();
        var response = await PutAsync(new
        {
            earnRate = -1, earnBasis = "gross", pointValue = 0, minConversion = 150, conversionStep = 100, dailyConversionLimit = 50,
            couponValidityDays = 0, feedbackBonus = -5, negativeBalancePolicy = "whatever", balanceSource = "pos",
        });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid_settings", problem.GetProperty("code").GetString());
        var fields = problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).ToHashSet();
        Assert.Superset(new HashSet<string> { "earnRate", "earnBasis", "pointValue", "minConversion", "dailyConversionLimit",
            "couponValidityDays", "feedbackBonus", "negativeBalancePolicy", "posBaseUrl", "posApiKey" }, fields);
        Assert.Equal(before, await SavedAsync());
    }

    /// <summary>The shop's saved settings row, every column, as text (null when none is saved).</summary>
    private Task<string?> SavedAsync() =>
        App.ScalarAsync<string>("SELECT row_to_json(s)::text FROM shop_settings s WHERE shop_domain = @shop", new { shop = Shop });

    [Fact]
    public async Task Saved_settings_are_returned_and_fields_left_out_keep_their_value()
    {
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(new { earnRate = 2.5m, conversionStep = 50, minConversion = 50 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(new { feedbackBonus = 25 })).StatusCode);

        var s = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/settings", Shop))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((2.5m, 50L, 25L), (s.GetProperty("earnRate").GetDecimal(), s.GetProperty("conversionStep").GetInt64(),
            s.GetProperty("feedbackBonus").GetInt64()));
    }

    [Fact]
    public async Task The_POS_api_key_is_stored_encrypted_and_never_returned()
    {
        var response = await PutAsync(new { balanceSource = "pos", posBaseUrl = "https://pos.example.com/api",
            posApiKey = "pos_live_secret_key_123" });

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync();
        Assert.DoesNotContain("pos_live_secret_key_123", body);
        Assert.Contains("\"posApiKeySet\":true", body);
        var get = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/settings", Shop))).Content.ReadAsStringAsync();
        Assert.DoesNotContain("pos_live_secret_key_123", get);
        var stored = await App.ScalarAsync<string>("SELECT pos_api_key_protected FROM shop_settings WHERE shop_domain = @shop", new { shop = Shop });
        Assert.DoesNotContain("pos_live_secret_key_123", stored);
        // Changing another field keeps the key.
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(new { earnRate = 3 })).StatusCode);
        Assert.Equal(stored, await App.ScalarAsync<string>("SELECT pos_api_key_protected FROM shop_settings WHERE shop_domain = @shop",
            new { shop = Shop }));
    }

    [Fact]
    public async Task Changing_the_POS_url_takes_the_key_again_and_without_it_nothing_is_saved()
    {
        Assert.Equal(HttpStatusCode.OK,
            (await PutAsync(new { balanceSource = "pos", posBaseUrl = "https://pos.example.com/api",
                posApiKey = "key-for-pos-example" })).StatusCode);
        const string Saved = "SELECT pos_base_url || ' ' || pos_api_key_protected FROM shop_settings WHERE shop_domain = @shop";
        var saved = await App.ScalarAsync<string>(Saved, new { shop = Shop });

        var moved = await PutAsync(new { posBaseUrl = "https://collector.example.net" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, moved.StatusCode);
        var problem = await moved.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("pos_api_key_required", problem.GetProperty("code").GetString());
        Assert.Equal(["posApiKey"], problem.GetProperty("errors").EnumerateObject().Select(p => p.Name));
        Assert.Equal(saved, await App.ScalarAsync<string>(Saved, new { shop = Shop }));
        // The same URL, or other fields, keep the key; a new URL with its key is saved.
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(new { posBaseUrl = "https://pos.example.com/api", earnRate = 2 })).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await PutAsync(new { posBaseUrl = "https://collector.example.net",
            posApiKey = "key-for-collector" })).StatusCode);
    }

    [Fact]
    public async Task A_URL_change_without_the_key_among_other_invalid_fields_is_one_invalid_settings_422()
    {
        await PutAsync(new { posBaseUrl = "https://pos.example.com/api", posApiKey = "key-for-pos-example" });

        var response = await PutAsync(new { posBaseUrl = "https://collector.example.net", earnRate = -1 });

        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "invalid_settings"), (response.StatusCode, problem.GetProperty("code").GetString()));
        Assert.Equal(["earnRate", "posApiKey"], problem.GetProperty("errors").EnumerateObject().Select(p => p.Name).Order());
    }

    [Theory]
    [InlineData("http://pos.example.com", "Must use https.")]
    [InlineData("https://127.0.0.1:8443", "loopback or private")]
    [InlineData("https://10.1.2.3", "loopback or private")]
    [InlineData("https://192.0.2.2", "loopback or private")]
    [InlineData("https://198.18.0.1", "loopback or private")]
    [InlineData("https://192.0.0.8", "loopback or private")]
    [InlineData("https://[64:ff9b::a00:1]", "loopback or private")]
    [InlineData("https://[2002:a00:1::1]", "loopback or private")]
    [InlineData("https://[::ffff:a00:1]", "loopback or private")]
    [InlineData("https://user:pw@pos.example.com", "without credentials")]
    [InlineData("ftp://pos.example.com", "absolute https URL")]
    public async Task A_POS_url_that_is_not_public_https_is_refused(string url, string message)
    {
        var response = await PutAsync(new { balanceSource = "pos", posBaseUrl = url, posApiKey = "k" });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains(message, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_body_that_is_not_json_is_a_4xx()
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            new StringContent("{not json", System.Text.Encoding.UTF8, "application/json")));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
    }

    [Fact]
    public async Task Two_partial_saves_at_once_both_stick()
    {
        // The earn rate (money) saved by one admin tab while another saves an unrelated field: neither may undo the other.
        for (var i = 1; i <= 15; i++)
        {
            var rate = 1m + i / 100m;
            var answers = await Task.WhenAll(PutAsync(new { earnRate = rate }), PutAsync(new { feedbackBonus = i }));
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
            var s = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/settings", Shop))).Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal((rate, (long)i), (s.GetProperty("earnRate").GetDecimal(), s.GetProperty("feedbackBonus").GetInt64()));
        }
    }

    [Theory]
    [InlineData("""{"posBaseUrl":"https://pos.example.com/a\u0000b"}""", "posBaseUrl")]
    [InlineData("""{"posBaseUrl":"https://pos.example.com","posApiKey":"key\u0000"}""", "posApiKey")]
    [InlineData("""{"posBaseUrl":"https://pos.example.com","posApiKey":"key\nX-Other: 1"}""", "posApiKey")] // sent as a header
    public async Task A_NUL_or_control_character_in_the_POS_connection_is_refused_with_a_field_error(string json, string field)
    {
        var before = await SavedAsync();
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            new StringContent(json, System.Text.Encoding.UTF8, "application/json")));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(field, out _), body);
        Assert.Equal(before, await SavedAsync());
    }
}
