using Loyalty.ShopifyApp.Features.Campaigns;
using WireMock.Matchers;

namespace Loyalty.Tests.Features.Campaigns;

/// <summary>Merchant campaigns: validated, one code or many, created in Shopify in resumable batches that never send a code twice.</summary>
public sealed class CampaignTests(CampaignTests.CampaignApp app) : AppTests<CampaignTests.CampaignApp>(app)
{
    // The tests drive the generation job themselves: no Hangfire server here.
    public sealed class CampaignApp() : AppFixture(new()
    {
        ["Jobs:ServerEnabled"] = "false",
        ["Campaigns:BulkPollIntervalMs"] = "0",
    });

    private Task<HttpResponseMessage> CreateAsync(object body)
    {
        var request = App.Admin(HttpMethod.Post, "/api/admin/campaigns", Shop, JsonContent.Create(body));
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        return App.Http.SendAsync(request);
    }

    private async Task<(HttpStatusCode Status, string Body)> SendJsonAsync(HttpMethod method, string path, string json, bool idempotent = false)
    {
        using var request = App.Admin(method, path, Shop, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        if (idempotent) request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString("N"));
        using var response = await App.Http.SendAsync(request);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    private IEnumerable<(int Status, string Body)> Calls(string operation) => Shopify.Server.LogEntries
        .Where(e => e.RequestMessage!.Path == ShopifyFake.GraphQLPath(Shop)
            && e.RequestMessage.Body?.Contains(operation, StringComparison.Ordinal) == true)
        .Select(e => (Convert.ToInt32(e.ResponseMessage!.StatusCode, System.Globalization.CultureInfo.InvariantCulture), e.RequestMessage!.Body!));

    private void StubBulk()
    {
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/42");
        Shopify.StubFindCode(Shop, null);
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*AddCampaignCodes*")))
            .AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { discountRedeemCodeBulkAdd = new { bulkCreation = new { id = "gid://shopify/DiscountRedeemCodeBulkCreation/1" },
                    userErrors = Array.Empty<object>() } },
            }));
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(
            new WildcardMatcher("*CampaignCodesStatus*")))
            .AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { discountRedeemCodeBulkCreation = new { done = true, importedCount = 250, failedCount = 0,
                    codes = new { pageInfo = new { hasNextPage = false, endCursor = (string?)null }, nodes = Array.Empty<object>() } } },
            }));
    }

    [Fact]
    public async Task Every_invalid_field_is_named_and_a_pattern_too_small_for_its_count_is_refused()
    {
        var response = await CreateAsync(new
        {
            title = "", percentage = 120, fixedAmount = 5, usageLimit = 0, minimumSubtotal = -1, customerIds = new[] { -3L },
            startsAt = "2026-12-01T00:00:00Z", endsAt = "2026-11-01T00:00:00Z", codes = new { count = 100000, prefix = "summer", length = 6 },
        });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid_campaign", problem.GetProperty("code").GetString());
        var errors = problem.GetProperty("errors");
        foreach (var field in new[] { "title", "value", "percentage", "endsAt", "usageLimit", "minimumSubtotal", "customerIds", "codes.length" })
        {
            Assert.True(errors.TryGetProperty(field, out _), $"{field} is named");
        }
        Assert.Contains("use a longer length", errors.GetProperty("codes.length")[0].GetString());
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task A_single_code_campaign_is_created_in_Shopify_before_answering()
    {
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/7");
        Shopify.StubFindCode(Shop, null);

        var response = await CreateAsync(new
        {
            title = "Summer", percentage = 10, code = "SUMMER10", usageLimit = 500, oncePerCustomer = true, minimumSubtotal = 50,
            combinesWith = new { product = true, order = false, shipping = true },
        });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var view = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("active", 1), (view.GetProperty("state").GetString(), view.GetProperty("createdCodes").GetInt32()));
        var input = JsonDocument.Parse(Assert.Single(Calls("CreateLoyaltyCode")).Body).RootElement.GetProperty("variables").GetProperty("input");
        Assert.Equal("SUMMER10", input.GetProperty("code").GetString());
        Assert.Equal(0.1, input.GetProperty("customerGets").GetProperty("value").GetProperty("percentage").GetDouble(), 6);
        Assert.Equal("ALL", input.GetProperty("context").GetProperty("all").GetString());
        Assert.Equal("50.00", input.GetProperty("minimumRequirement").GetProperty("subtotal").GetProperty(
            "greaterThanOrEqualToSubtotal").GetString());
        Assert.Equal(500, input.GetProperty("usageLimit").GetInt32());
    }

    [Fact]
    public async Task Ten_thousand_codes_survive_a_crash_mid_way_without_a_duplicate_or_a_missing_code()
    {
        StubBulk();
        var response = await CreateAsync(new { title = "Flyers", fixedAmount = 5, codes = new { count = 10000, prefix = "FLY-", length = 10 } });
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var codes = (await App.Db.OpenConnection().QueryCodesAsync(id)).ToList();
        Assert.Equal(10000, codes.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(codes, c => Assert.Matches("^FLY-[A-HJKMNP-Z2-9]{10}$", c));

        // Shopify fails the 21st batch (codes 5001-5250): the run stops there, as a crash would.
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
                .WithBody(new WildcardMatcher($"*AddCampaignCodes*{codes[5001]}*")))
            .AtPriority(1).RespondWith(Response.Create().WithStatusCode(500));
        var generation = App.Services.GetRequiredService<CampaignGeneration>();
        var crash = await Record.ExceptionAsync(() => generation.GenerateAsync(id, default));
        Assert.IsType<Loyalty.ShopifyApp.Infrastructure.Shopify.ShopifyUnavailableException>(crash);
        var midway = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/campaigns/{id}",
            Shop))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("generating", 5001), (midway.GetProperty("state").GetString(), midway.GetProperty("createdCodes").GetInt32()));

        Shopify.ResetMappings(Shop);
        Shopify.StubTokenExchange(Shop);
        StubBulk();
        await generation.GenerateAsync(id, default); // resume

        var sent = Calls("AddCampaignCodes").Where(c => c.Status == 200)
            .SelectMany(c => JsonDocument.Parse(c.Body).RootElement.GetProperty("variables").GetProperty("codes").EnumerateArray()
                .Select(x => x.GetProperty("code").GetString()!)).ToList();
        Assert.Equal(9999, sent.Count);                       // every code but the discount's own first one …
        Assert.Equal(codes.Skip(1).OrderBy(c => c), sent.OrderBy(c => c)); // … exactly once
        Assert.All(Calls("AddCampaignCodes"), c => Assert.True(
            JsonDocument.Parse(c.Body).RootElement.GetProperty("variables").GetProperty("codes").GetArrayLength() <= 250));
        Assert.Equal(250, Calls("FindLoyaltyCode").Count() - 1); // the unanswered batch was checked code by code (plus the first code)
        var done = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/campaigns/{id}",
            Shop))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("active", 10000, 0), (done.GetProperty("state").GetString(), done.GetProperty("createdCodes").GetInt32(),
            done.GetProperty("pendingCodes").GetInt32()));

        var csv = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/campaigns/{id}/codes.csv",
            Shop))).Content.ReadAsStringAsync();
        Assert.Equal(10001, csv.TrimEnd('\n').Split('\n').Length);
        var list = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/campaigns?state=active",
            Shop))).Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(id, Assert.Single(list.GetProperty("items").EnumerateArray()).GetProperty("id").GetInt64());
    }

    [Fact]
    public async Task Codes_follow_the_format_asked_for_a_letter_and_five_digits_or_a_UUID_and_a_pattern_too_small_is_refused_first()
    {
        StubBulk();
        var seedPattern = await CreateAsync(new
        {
            title = "Seed", fixedAmount = 5, codes = new { count = 300, format = "pattern", pattern = "a99999" },
        });
        Assert.Equal(HttpStatusCode.Accepted, seedPattern.StatusCode);
        var id = (await seedPattern.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var codes = (await App.Db.OpenConnection().QueryCodesAsync(id)).ToList();
        Assert.Equal(300, codes.Distinct(StringComparer.OrdinalIgnoreCase).Count());
        Assert.All(codes, c => Assert.Matches("^[A-HJKMNP-Z][2-9]{5}$", c)); // one letter then five digits, no look-alikes

        var uuids = await CreateAsync(new { title = "Ids", fixedAmount = 5, codes = new { count = 3, prefix = "P-", format = "uuid" } });
        Assert.Equal(HttpStatusCode.Accepted, uuids.StatusCode);
        var uuidCodes = (await App.Db.OpenConnection().QueryCodesAsync(
            (await uuids.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64())).ToList();
        Assert.All(uuidCodes, c => Assert.Matches("^P-[0-9A-F]{8}-[0-9A-F]{4}-4[0-9A-F]{3}-[89AB][0-9A-F]{3}-[0-9A-F]{12}$", c));

        var calls = Calls("AddCampaignCodes").Count();
        foreach (var (body, field) in new (object, string)[]
                 {
                     (new { count = 2, format = "pattern", pattern = "A9" }, "codes.pattern"), // 184 codes: at most 1 of them
                     (new { count = 10, format = "pattern", pattern = "AB9" }, "codes.pattern"),
                     (new { count = 10, format = "barcode" }, "codes.format"),
                 })
        {
            var refused = await CreateAsync(new { title = "Bad", fixedAmount = 5, codes = body });
            Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
            var errors = (await refused.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors");
            Assert.True(errors.TryGetProperty(field, out _), errors.ToString());
        }
        Assert.Equal(calls, Calls("AddCampaignCodes").Count()); // nothing sent for a refused pattern
        Assert.Equal(2L, await App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @shop", new { shop = Shop }));

        // A shape the shop's other codes already fill: "X-" and a letter and a digit, all 184 taken by another campaign. One more is
        // refused with a reason instead of a search that never ends.
        var other = await CreateAsync(new { title = "Other", fixedAmount = 5, codes = new { count = 1, prefix = "Y-" } });
        var otherId = (await other.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        await App.ScalarAsync<int>("""
            INSERT INTO campaign_codes (campaign_id, shop_domain, code, seq, state)
            SELECT @otherId, @shop, 'X-' || l || d, 1000 + row_number() OVER (), 'created'
            FROM unnest(string_to_array('ABCDEFGHJKMNPQRSTUVWXYZ', NULL)) l, unnest(string_to_array('23456789', NULL)) d
            """, new { otherId, shop = Shop });
        var full = await CreateAsync(new
        {
            title = "One too many", fixedAmount = 5, codes = new { count = 1, prefix = "X-", format = "pattern", pattern = "A9" },
        });
        Assert.Equal(HttpStatusCode.UnprocessableEntity, full.StatusCode);
        Assert.Contains("already use nearly every code", (await full.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors")
            .GetProperty("codes.pattern")[0].GetString());
        Assert.Equal(3L, await App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task To_a_customer_a_code_not_live_yet_is_answered_exactly_like_one_that_does_not_exist()
    {
        var response = await CreateAsync(new { title = "Soon", fixedAmount = 5, codes = new { count = 3, prefix = "SOON-" } });
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var reserved = (await App.Db.OpenConnection().QueryCodesAsync(id)).First(); // stored, not yet created in Shopify

        async Task<string> CheckAsync(string code)
        {
            using var check = await App.Http.PostAsync(LoyaltyApp.ProxyPath("/proxy/api/coupons/validate", Shop, 777),
                JsonContent.Create(new { code, subtotal = 100 }));
            return (await check.Content.ReadAsStringAsync()).Replace(code, "<code>", StringComparison.Ordinal);
        }

        Assert.Equal(await CheckAsync("SOON-NOSUCHCODE"), await CheckAsync(reserved));
    }

    [Fact]
    public async Task A_throttled_batch_waits_for_the_bucket_and_goes_out_once()
    {
        StubBulk();
        var response = await CreateAsync(new { title = "Throttled", percentage = 15, codes = new { count = 600, length = 10 } });
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var codes = (await App.Db.OpenConnection().QueryCodesAsync(id)).ToList();
        // Shopify throttles the second batch once (no data, THROTTLED): nothing was executed, so it is simply sent again.
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
                .WithBody(new WildcardMatcher($"*AddCampaignCodes*{codes[251]}*")))
            .AtPriority(1).InScenario("bucket-" + Shop).WillSetStateTo("refilled")
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
                extensions = new { cost = new { requestedQueryCost = 20, actualQueryCost = (int?)null,
                    throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 10, restoreRate = 100.0 } } },
            }));

        await App.Services.GetRequiredService<CampaignGeneration>().GenerateAsync(id, default);

        var batches = Calls("AddCampaignCodes").ToList();
        Assert.Equal(2, batches.Count(b => b.Body.Contains(codes[251], StringComparison.Ordinal))); // throttled, then sent again
        Assert.Equal(2, batches.Count(b => !b.Body.Contains(codes[251], StringComparison.Ordinal))); // the other two batches, once each
        Assert.Equal(600, await App.ScalarAsync<long>("SELECT count(*) FROM campaign_codes WHERE campaign_id = @id AND state = 'created'",
            new { id }));
    }

    [Theory]
    [InlineData("code", "ABC\n")]
    [InlineData("codes.prefix", "SUMMER\n")]
    public async Task A_code_or_prefix_ending_in_a_newline_is_refused_with_its_field_named(string field, string value)
    {
        // .NET's $ also matches before a final newline; such a code would be stored and break codes.csv.
        var response = await CreateAsync(field == "code"
            ? new { title = "Newline", percentage = 10, code = value }
            : new { title = "Newline", percentage = 10, codes = (object)new { count = 5, prefix = value, length = 8 } });

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("invalid_campaign", problem.GetProperty("code").GetString());
        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), $"{field} is named");
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Theory]
    // value is numeric(18, 4) CHECK (value > 0): 0.00001 passes "> 0" and is stored as 0.0000; 12.34567 as 12.3457.
    [InlineData("""{"title":"Tiny","percentage":0.00001,"code":"TINY1"}""", "percentage")]
    [InlineData("""{"title":"Fine","percentage":12.34567,"code":"FINE1"}""", "percentage")]
    // ends_at > starts_at is checked in 100 ns ticks by the app, in microseconds by PostgreSQL (which keeps no finer).
    [InlineData(
        """{"title":"Blink","fixedAmount":5,"code":"BLINK1","startsAt":"2030-01-01T00:00:00.0000001Z","endsAt":"2030-01-01T00:00:00.0000009Z"}""",
        "endsAt")]
    public async Task Campaign_values_the_database_cannot_hold_are_refused_with_a_field_error(string json, string field)
    {
        var (status, body) = await SendJsonAsync(HttpMethod.Post, "/api/admin/campaigns", json, idempotent: true);

        Assert.True(status == HttpStatusCode.UnprocessableEntity, $"{(int)status}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(field, out _), body);
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @Shop", new { Shop }));
    }

    [Fact]
    public async Task A_NUL_character_in_a_campaign_title_is_refused_with_a_field_error()
    {
        var (status, body) = await SendJsonAsync(HttpMethod.Post, "/api/admin/campaigns",
            """{"title":"Summer\u0000","fixedAmount":5,"code":"NUL1"}""", idempotent: true);

        Assert.True(status == HttpStatusCode.UnprocessableEntity, $"{(int)status}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty("title", out _), body);
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @Shop", new { Shop }));
    }

    [Theory]
    [InlineData("""{"endsAt":"2030-01-01T00:00:00.0000005Z"}""", "endsAt")] // less than a microsecond after the start
    [InlineData("""{"title":"Sum\u0000mer"}""", "title")] // PostgreSQL's text holds no NUL
    public async Task A_change_the_database_could_not_hold_is_refused_before_Shopify_is_changed(string json, string field)
    {
        var id = await App.ScalarAsync<long>("""
            INSERT INTO campaigns (shop_domain, title, discount_type, value, starts_at, ends_at, once_per_customer, combines_product, combines_order,
                                   combines_shipping, requested_codes, state, discount_id)
            VALUES (@shop, 'Active', 'fixed_amount', 5, '2030-01-01T00:00:00Z', '2030-02-01T00:00:00Z', false, false, false, false, 1, 'active',
                    'gid://shopify/DiscountCodeNode/77')
            RETURNING id
            """, new { shop = Shop });
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*UpdateCampaign*")))
            .AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { discountCodeBasicUpdate = new { codeDiscountNode = new { id = "gid://shopify/DiscountCodeNode/77" },
                    userErrors = Array.Empty<object>() } },
            }));

        var (status, body) = await SendJsonAsync(HttpMethod.Put, $"/api/admin/campaigns/{id}", json);

        Assert.True(status == HttpStatusCode.UnprocessableEntity, $"{(int)status}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(field, out _), body);
        Assert.Empty(Shopify.OperationBodies(Shop, "UpdateCampaign")); // before, Shopify was changed and then the database refused
        Assert.Equal("Active", await App.ScalarAsync<string>("SELECT title FROM campaigns WHERE id = @id", new { id }));
    }

    [Fact]
    public async Task A_discount_Shopify_refuses_fails_the_campaign_with_the_reason()
    {
        Shopify.StubDiscountCreateUserError(Shop, "INVALID", "Minimum subtotal is too high");
        Shopify.StubFindCode(Shop, null);

        var response = await CreateAsync(new { title = "Bad", fixedAmount = 5, code = "BAD5" });

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("Minimum subtotal is too high", await response.Content.ReadAsStringAsync());
        Assert.Equal("failed", await App.ScalarAsync<string>("SELECT state FROM campaigns WHERE shop_domain = @shop", new { shop = Shop }));
    }
}

internal static class CampaignCodeQueries
{
    public static async Task<IEnumerable<string>> QueryCodesAsync(this Npgsql.NpgsqlConnection conn, long id)
    {
        await using (conn)
        {
            return (await Dapper.SqlMapper.QueryAsync<string>(conn, "SELECT code FROM campaign_codes WHERE campaign_id = @id ORDER BY seq",
                new { id })).ToList();
        }
    }
}
