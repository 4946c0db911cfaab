using System.Text.RegularExpressions;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>The request: a logged-in customer turns points into a code, in ledger mode.</summary>
public sealed class ConvertPointsTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    [Fact]
    public async Task Converting_500_points_creates_a_customer_only_code_deducts_once_and_records_it_on_the_customer()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);

        var response = await ConvertAsync(500, "attempt-1");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var code = body.GetProperty("code").GetString()!;
        Assert.Matches(new Regex("^777-[A-HJKMNP-Z2-9]{6}-500$"), code);
        Assert.Equal((500m, 500L, 500L), (body.GetProperty("amount").GetDecimal(), body.GetProperty("points").GetInt64(),
            body.GetProperty("balance").GetInt64()));

        var create = JsonDocument.Parse(Assert.Single(Shopify.OperationBodies(Shop, "CreateLoyaltyCode"))).RootElement.GetProperty(
            "variables").GetProperty("input");
        Assert.Equal(code, create.GetProperty("code").GetString());
        Assert.Equal("gid://shopify/Customer/777", create.GetProperty("context").GetProperty("customers").GetProperty("add")[0].GetString());
        Assert.Equal(1, create.GetProperty("usageLimit").GetInt32());
        Assert.True(create.GetProperty("appliesOncePerCustomer").GetBoolean());
        Assert.Equal("500.00", create.GetProperty("customerGets").GetProperty("value").GetProperty("discountAmount").GetProperty(
            "amount").GetString());
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
        var conversionId = body.GetProperty("conversionId").GetString();
        Assert.Equal(-500L,
            await App.ScalarAsync<long>("SELECT points FROM point_transactions WHERE shop_domain = @shop AND reference = @conversionId",
            new { shop = Shop, conversionId }));
        var metafield = JsonDocument.Parse(Assert.Single(Shopify.OperationBodies(Shop, "SetLoyaltyCoupons"))).RootElement
            .GetProperty("variables").GetProperty("metafields")[0];
        Assert.Equal(("loyalty", "coupons", "json"), (metafield.GetProperty("namespace").GetString(), metafield.GetProperty("key").GetString(),
            metafield.GetProperty("type").GetString()));
        Assert.Contains(code, metafield.GetProperty("value").GetString());
        Assert.Equal(JsonValueKind.Null, metafield.GetProperty("compareDigest").ValueKind); // no list yet: must not exist
    }

    [Fact]
    public async Task A_drive_ends_with_the_lease_released_whether_the_list_was_written_or_left_for_the_reconciler()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        Assert.Equal(HttpStatusCode.Created, (await ConvertAsync(500, "list-written")).StatusCode); // the list's write ends the lease
        Shopify.StubMetafieldsSetRefused(Shop);

        Assert.Equal(HttpStatusCode.Created, (await ConvertAnsweredAsync(300, "list-refused")).StatusCode); // the drive ends it itself
        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<long>(
            "SELECT count(*) FROM conversions WHERE shop_domain = @shop AND locked_until IS NOT NULL", new { shop = Shop }) == 0,
            "every lease released");

        Assert.Equal(2, Shopify.OperationBodies(Shop, "SetLoyaltyCoupons").Count);
        Assert.Equal(1L, await App.ScalarAsync<long>(
            "SELECT count(*) FROM conversions WHERE shop_domain = @shop AND metafield_synced_at IS NULL", new { shop = Shop }));
    }

    [Fact]
    public async Task A_repeated_idempotency_key_returns_the_first_result_and_another_amount_is_a_conflict()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        var first = await (await ConvertAsync(500, "same")).Content.ReadFromJsonAsync<JsonElement>();

        var replay = await ConvertAsync(500, "same");
        var other = await ConvertAsync(300, "same");

        Assert.Equal(HttpStatusCode.OK, replay.StatusCode);
        Assert.Equal(first.GetProperty("code").GetString(), (await replay.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Contains("idempotency_key_reused", await other.Content.ReadAsStringAsync());
        Assert.Equal(1, Creates);
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task A_second_conversion_while_the_first_is_in_flight_is_refused_with_a_stable_code_and_touches_nothing()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreateStatus(Shop, 503); // Shopify is away: the first conversion waits to be tried again
        var first = await ConvertAsync(500, "first");
        Assert.Equal(HttpStatusCode.Accepted, first.StatusCode);

        var second = await ConvertAsync(300, "second");

        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Equal("conversion_in_progress", (await second.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM conversions WHERE shop_domain = @shop AND customer_id = @customer",
            new { shop = Shop, customer = Customer }));
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task Requests_the_rules_refuse_get_a_stable_code_and_touch_nothing()
    {
        await GiveAsync(300);
        await SetAsync(new { dailyConversionLimit = 600 });
        Shopify.StubDiscountCreate(Shop);

        async Task<string> CodeOf(HttpResponseMessage r) => (await r.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;
        Assert.Equal("below_minimum", await CodeOf(await ConvertAsync(50, "a")));
        Assert.Equal("not_a_multiple", await CodeOf(await ConvertAsync(150, "b")));
        Assert.Equal("insufficient_points", await CodeOf(await ConvertAsync(400, "c")));
        await GiveAsync(500);
        Assert.Equal(HttpStatusCode.Created, (await ConvertAsync(500, "d")).StatusCode);
        var overLimit = await ConvertAsync(200, "e");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, overLimit.StatusCode);
        Assert.Equal("daily_limit_exceeded", await CodeOf(overLimit));
        Assert.Equal(HttpStatusCode.BadRequest, (await ConvertAsync(100, key: null)).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await ConvertAsync(100, "f", customer: null)).StatusCode);
        Assert.Equal(1, Creates);
        Assert.Equal(300, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task Twenty_concurrent_conversions_by_a_customer_whose_balance_covers_one_give_exactly_one_coupon()
    {
        await GiveAsync(500);
        Shopify.StubDiscountCreate(Shop);

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(i => ConvertAsync(500, $"race-{i}")));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.All(responses.Where(r => r.StatusCode != HttpStatusCode.Created),
            r => Assert.True(r.StatusCode is HttpStatusCode.Conflict or HttpStatusCode.UnprocessableEntity, $"{(int)r.StatusCode}"));
        Assert.Equal(1, Creates);
        Assert.Equal(0, await App.BalanceAsync(Shop, Customer));
        Assert.Equal(1L, await App.ScalarAsync<long>("SELECT count(*) FROM conversions WHERE shop_domain = @shop AND state = 'completed'",
            new { shop = Shop }));
    }

    [Fact]
    public async Task A_coupon_Shopify_refuses_fails_the_conversion_without_deducting()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreateUserError(Shop, "INVALID", "Amount is invalid");

        var response = await ConvertAsync(500, "refused");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("coupon_creation_failed", await response.Content.ReadAsStringAsync());
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
    }

    [Fact]
    public async Task Shopify_down_is_settled_by_a_later_lookup_and_a_503_with_nothing_deducted()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreateStatus(Shop, 503);
        Shopify.StubFindCode(Shop, null);

        var response = await ConvertAsync(500, "down");

        // A 5xx does not say the coupon was not created: the customer waits for a lookup that can decide.
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString()!;
        await ReconcileAsync(); // PendingTimeoutSeconds is 0 here: the code is not in Shopify, so it never will be
        var poll = await App.Http.GetAsync(LoyaltyApp.ProxyPath($"/proxy/api/conversions/{id}", Shop, Customer));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, poll.StatusCode);
        Assert.NotNull(poll.Headers.RetryAfter);
        Assert.Contains("shopify_unavailable", await poll.Content.ReadAsStringAsync());
        Assert.Equal((1, 1000L), (Creates, (long)await App.BalanceAsync(Shop, Customer)));
    }

    [Fact]
    public async Task A_taken_code_is_retried_with_a_new_one()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreateUserError(Shop, "TAKEN", "Code must be unique", "taken-" + Shop, setState: "free");
        Shopify.StubDiscountCreate(Shop, scenario: "taken-" + Shop, whenState: "free");

        var response = await ConvertAsync(500, "taken");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var codes = Shopify.OperationBodies(Shop, "CreateLoyaltyCode")
            .Select(b => JsonDocument.Parse(b).RootElement.GetProperty("variables").GetProperty("input").GetProperty("code").GetString()).ToList();
        Assert.Equal(2, codes.Distinct().Count());
        Assert.Equal(codes[1], (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_throttled_coupon_creation_waits_for_the_bucket_instead_of_failing_the_customer()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreateThrottledOnce(Shop);
        Shopify.StubDiscountCreate(Shop, scenario: "throttle-" + Shop, whenState: "refilled");

        var response = await ConvertAsync(500, "throttled");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(2, Creates);
    }

    [Fact]
    public async Task A_metafield_changed_meanwhile_is_read_again_and_merged()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        Shopify.StubCouponsMetafield(Shop, """[{"code":"777-OLDONE-100","status":"active"}]""", "digest-1");
        Shopify.StubMetafieldsSet(Shop, staleFirst: true);

        Assert.Equal(HttpStatusCode.Created, (await ConvertAsync(500, "stale")).StatusCode);

        var writes = Shopify.OperationBodies(Shop, "SetLoyaltyCoupons");
        Assert.Equal(2, writes.Count);
        var last = JsonDocument.Parse(writes[1]).RootElement.GetProperty("variables").GetProperty("metafields")[0];
        Assert.Equal("digest-1", last.GetProperty("compareDigest").GetString());
        Assert.Contains("777-OLDONE-100", last.GetProperty("value").GetString());
        Assert.NotNull(await App.ScalarAsync<DateTime?>("SELECT metafield_synced_at FROM conversions WHERE shop_domain = @shop",
            new { shop = Shop }));
    }
}
