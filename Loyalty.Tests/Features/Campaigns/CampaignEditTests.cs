using WireMock.Matchers;

namespace Loyalty.Tests.Features.Campaigns;

/// <summary>
/// A merchant edits what Shopify lets a code discount change (value, dates, limits, minimum, combinations, eligible customers):
/// Shopify receives the campaign as it is to be, customers as additions and removals, and our record follows only when it accepted.
/// </summary>
public sealed class CampaignEditTests(AppFixture app) : AppTests<AppFixture>(app)
{
    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/9");
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*UpdateCampaign*")))
            .AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(
                new { data = new { discountCodeBasicUpdate = new { codeDiscountNode = new { id = "x" }, userErrors = Array.Empty<object>() } } }));
    }

    private Task<long> CampaignAsync(object body) => App.CreateCampaignAsync(Shop, body);

    private async Task<(HttpStatusCode Status, JsonElement Body)> EditAsync(long id, object change)
    {
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/campaigns/{id}", Shop, JsonContent.Create(change)));
        return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
    }

    private JsonElement LastUpdateInput() =>
        JsonDocument.Parse(Shopify.OperationBodies(Shop, "UpdateCampaign")[^1]).RootElement.GetProperty("variables").GetProperty("input");

    private static string[] Gids(JsonElement list) => [.. list.EnumerateArray().Select(x => x.GetString()!)];

    [Fact]
    public async Task Every_field_Shopify_lets_a_code_discount_change_goes_to_Shopify_and_into_the_campaign()
    {
        var id = await CampaignAsync(new { title = "VIP", fixedAmount = 5, code = "VIP5", customerIds = new[] { 1L, 2L }, usageLimit = 10 });
        var startsAt = DateTimeOffset.UtcNow.AddDays(1);

        var (status, view) = await EditAsync(id, new
        {
            percentage = 15, startsAt, endsAt = startsAt.AddDays(30), usageLimit = 50, oncePerCustomer = true, minimumSubtotal = 40,
            combinesWith = new { product = true, order = false, shipping = true }, customerIds = new[] { 2L, 3L },
        });

        Assert.Equal(HttpStatusCode.OK, status);
        var input = LastUpdateInput();
        Assert.Equal(0.15, input.GetProperty("customerGets").GetProperty("value").GetProperty("percentage").GetDouble());
        Assert.Equal(startsAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ"), input.GetProperty("startsAt").GetString());
        Assert.Equal((50, true, "40.00"), (input.GetProperty("usageLimit").GetInt32(), input.GetProperty("appliesOncePerCustomer").GetBoolean(),
            input.GetProperty("minimumRequirement").GetProperty("subtotal").GetProperty("greaterThanOrEqualToSubtotal").GetString()));
        Assert.Equal((true, false, true), (input.GetProperty("combinesWith").GetProperty("productDiscounts").GetBoolean(),
            input.GetProperty("combinesWith").GetProperty("orderDiscounts").GetBoolean(),
            input.GetProperty("combinesWith").GetProperty("shippingDiscounts").GetBoolean()));
        var customers = input.GetProperty("context").GetProperty("customers");
        Assert.Equal(["gid://shopify/Customer/3"], Gids(customers.GetProperty("add")));
        Assert.Equal(["gid://shopify/Customer/1"], Gids(customers.GetProperty("remove")));
        Assert.Equal(("percentage", 15m, 50, 40m), (view.GetProperty("discountType").GetString(), view.GetProperty("value").GetDecimal(),
            view.GetProperty("usageLimit").GetInt32(), view.GetProperty("minimumSubtotal").GetDecimal()));
        Assert.Equal([2L, 3L], view.GetProperty("customerIds").EnumerateArray().Select(x => x.GetInt64()).ToList());
        Assert.True(view.GetProperty("oncePerCustomer").GetBoolean());
        Assert.Equal((startsAt.ToUnixTimeSeconds(), startsAt.AddDays(30).ToUnixTimeSeconds()),
            (view.GetProperty("startsAt").GetDateTimeOffset().ToUnixTimeSeconds(),
                view.GetProperty("endsAt").GetDateTimeOffset().ToUnixTimeSeconds()));
        var combines = view.GetProperty("combinesWith");
        Assert.Equal((true, false, true), (combines.GetProperty("product").GetBoolean(), combines.GetProperty("order").GetBoolean(),
            combines.GetProperty("shipping").GetBoolean()));
    }

    [Fact]
    public async Task A_combination_left_out_stays_as_it_was()
    {
        var id = await CampaignAsync(new { title = "Mix", fixedAmount = 5, code = "MIX5", combinesWith = new { product = false, order = true,
            shipping = true } });

        var (status, view) = await EditAsync(id, new { combinesWith = new { product = true } });

        Assert.Equal(HttpStatusCode.OK, status);
        var combines = LastUpdateInput().GetProperty("combinesWith");
        Assert.Equal((true, true, true), (combines.GetProperty("productDiscounts").GetBoolean(), combines.GetProperty("orderDiscounts").GetBoolean(),
            combines.GetProperty("shippingDiscounts").GetBoolean()));
        Assert.True(view.GetProperty("combinesWith").GetProperty("order").GetBoolean());
    }

    [Fact]
    public async Task Another_shops_campaign_is_not_found_and_a_campaign_still_generating_is_not_editable()
    {
        var id = await CampaignAsync(new { title = "Mine", fixedAmount = 5, code = "MINE5" });
        var other = await Fixture.NewShopAsync();

        using var foreign = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/campaigns/{id}", other,
            JsonContent.Create(new { title = "Theirs" })));
        await App.ScalarAsync<int>("UPDATE campaigns SET state = 'generating' WHERE id = @id RETURNING 1", new { id });
        var (status, body) = await EditAsync(id, new { title = "Later" });

        Assert.Equal(HttpStatusCode.NotFound, foreign.StatusCode);
        Assert.Equal((HttpStatusCode.Conflict, "campaign_not_editable"), (status, body.GetProperty("code").GetString()));
        Assert.Empty(Shopify.OperationBodies(Shop, "UpdateCampaign"));
        Assert.Equal("Mine", await App.ScalarAsync<string>("SELECT title FROM campaigns WHERE id = @id", new { id }));
    }

    [Fact]
    public async Task A_change_made_on_a_stale_view_is_refused_so_one_editor_cannot_undo_another()
    {
        var id = await CampaignAsync(new { title = "Shared", fixedAmount = 5, code = "SHARED5" });
        var seen = (await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/campaigns/{id}", Shop))).Content
            .ReadFromJsonAsync<JsonElement>()).GetProperty("updatedAt").GetDateTimeOffset();

        var first = await EditAsync(id, new { version = seen, usageLimit = 10 });
        var second = await EditAsync(id, new { version = seen, title = "Shared, renamed" });

        Assert.Equal(HttpStatusCode.OK, first.Status);
        Assert.Equal((HttpStatusCode.Conflict, "campaign_changed"), (second.Status, second.Body.GetProperty("code").GetString()));
        Assert.Single(Shopify.OperationBodies(Shop, "UpdateCampaign"));
    }

    [Fact]
    public async Task Customers_an_unanswered_edit_may_have_let_in_are_taken_out_by_the_next_edit()
    {
        var id = await CampaignAsync(new { title = "VIP", fixedAmount = 5, code = "VIP7", customerIds = new[] { 1L } });
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*UpdateCampaign*")))
            .InScenario("lost").WillSetStateTo("answered").AtPriority(1)
            .RespondWith(Response.Create().WithFault(FaultType.MALFORMED_RESPONSE_CHUNK));

        // Shopify applies [2] but its answer is lost; the merchant then sets [1, 3].
        var (lost, lostBody) = await EditAsync(id, new { customerIds = new[] { 2L } });
        var (status, _) = await EditAsync(id, new { customerIds = new[] { 1L, 3L } });

        Assert.Equal((HttpStatusCode.ServiceUnavailable, "shopify_unavailable"), (lost, lostBody.GetProperty("code").GetString()));
        Assert.Contains("may or may not have been applied", lostBody.GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.OK, status);
        var customers = LastUpdateInput().GetProperty("context").GetProperty("customers");
        Assert.Equal(["gid://shopify/Customer/3"], Gids(customers.GetProperty("add")));
        Assert.Equal(["gid://shopify/Customer/2"], Gids(customers.GetProperty("remove"))); // before: 2 kept its code in Shopify
        Assert.Null(await App.ScalarAsync<long[]>("SELECT customer_ids_unconfirmed FROM campaigns WHERE id = @id", new { id }));
    }

    [Fact]
    public async Task Clearing_removes_the_end_the_limit_the_minimum_and_the_customer_list_in_Shopify_too()
    {
        var id = await CampaignAsync(new { title = "VIP", fixedAmount = 5, code = "VIP6", customerIds = new[] { 1L }, usageLimit = 10,
            minimumSubtotal = 30 });

        var (status, view) = await EditAsync(id, new { clear = new[] { "endsAt", "usageLimit", "minimumSubtotal", "customerIds" } });

        Assert.Equal(HttpStatusCode.OK, status);
        var input = LastUpdateInput();
        Assert.Equal((JsonValueKind.Null, JsonValueKind.Null), (input.GetProperty("endsAt").ValueKind, input.GetProperty("usageLimit").ValueKind));
        Assert.Equal((JsonValueKind.Null, JsonValueKind.Null),
            (input.GetProperty("minimumRequirement").GetProperty("subtotal").GetProperty("greaterThanOrEqualToSubtotal").ValueKind,
                input.GetProperty("minimumRequirement").GetProperty("quantity").GetProperty("greaterThanOrEqualToQuantity").ValueKind));
        Assert.Equal("ALL", input.GetProperty("context").GetProperty("all").GetString());
        Assert.Equal((JsonValueKind.Null, JsonValueKind.Null, JsonValueKind.Null, JsonValueKind.Null), (view.GetProperty("endsAt").ValueKind,
            view.GetProperty("usageLimit").ValueKind, view.GetProperty("minimumSubtotal").ValueKind, view.GetProperty("customerIds").ValueKind));
        Assert.Equal(5m, view.GetProperty("value").GetDecimal()); // what was not named stays
    }

    [Theory]
    [InlineData("""{"percentage":5,"fixedAmount":5}""", "value")]
    [InlineData("""{"percentage":101}""", "percentage")]
    [InlineData("""{"minimumSubtotal":0}""", "minimumSubtotal")]
    [InlineData("""{"customerIds":[-1]}""", "customerIds")]
    [InlineData("""{"startsAt":"2031-01-01T00:00:00Z","endsAt":"2030-01-01T00:00:00Z"}""", "endsAt")]
    [InlineData("""{"usageLimit":5,"clear":["usageLimit"]}""", "usageLimit")]
    [InlineData("""{"clear":["title"]}""", "clear")]
    [InlineData("""{"clear":[null]}""", "clear")]
    [InlineData("""{"startsAt":"2031-01-01T00:00:00.1Z","endsAt":"2031-01-01T00:00:00.9Z"}""", "endsAt")] // one second to Shopify
    public async Task A_change_that_is_not_valid_is_refused_by_field_before_Shopify_is_changed(string json, string field)
    {
        var id = await CampaignAsync(new { title = "Open", fixedAmount = 5, code = "OPEN" + Math.Abs(json.GetHashCode() % 10000) });
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/campaigns/{id}", Shop,
            new StringContent(json, Encoding.UTF8, "application/json")));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        Assert.True(JsonDocument.Parse(body).RootElement.GetProperty("errors").TryGetProperty(field, out _), body);
        Assert.Empty(Shopify.OperationBodies(Shop, "UpdateCampaign"));
    }

    [Fact]
    public async Task A_change_Shopify_refuses_leaves_the_campaign_as_it_was()
    {
        var id = await CampaignAsync(new { title = "Open", fixedAmount = 5, code = "OPEN9" });
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WildcardMatcher("*UpdateCampaign*")))
            .AtPriority(1).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                data = new { discountCodeBasicUpdate = new { codeDiscountNode = (object?)null,
                    userErrors = new[] { new { field = new[] { "basicCodeDiscount", "startsAt" }, code = "INVALID",
                        message = "Starts at is invalid" } } } },
            }));

        var (status, body) = await EditAsync(id, new { percentage = 20 });

        Assert.Equal((HttpStatusCode.BadGateway, "shopify_refused"), (status, body.GetProperty("code").GetString()));
        Assert.Equal("fixed_amount|5.0000", await App.ScalarAsync<string>("SELECT discount_type || '|' || value::text FROM campaigns WHERE id = @id",
            new { id }));
    }
}
