using Loyalty.ShopifyApp.Features.Conversion;

namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// <c>Conversion:AnswerBeforeList</c> (the default): the customer has the code once the points are deducted, and the same drive writes
/// their <c>loyalty.coupons</c> list behind the answer. Shopify takes a while to answer the list's write here.
/// </summary>
public sealed class AnswerBeforeListTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    /// <summary>Shopify answers the list's write after <paramref name="seconds"/>.</summary>
    internal static void SlowListWrite(ShopifyFake shopify, string shop, double seconds) =>
        shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(shop)).UsingPost()
                .WithBody(new WireMock.Matchers.WildcardMatcher("*SetLoyaltyCoupons*"))).AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(200).WithDelay(TimeSpan.FromSeconds(seconds)).WithBodyAsJson(new
            {
                data = new
                {
                    metafieldsSet = new { metafields = new[] { new { id = "gid://shopify/Metafield/1" } }, userErrors = Array.Empty<object>() },
                },
            }));

    /// <summary>Whether the conversion's list is written and its lease held, in words.</summary>
    internal static Task<string?> ListAndLeaseAsync(LoyaltyApp app, string? id) => app.ScalarAsync<string>("""
        SELECT CASE WHEN metafield_synced_at IS NULL THEN 'list not written' ELSE 'list written' END || ', '
               || CASE WHEN locked_until IS NULL THEN 'lease released' ELSE 'lease held' END
        FROM conversions WHERE id = @id
        """, new { id });

    [Fact]
    public async Task The_code_is_answered_once_the_points_are_deducted_and_the_list_is_written_behind_the_answer()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        SlowListWrite(Shopify, Shop, seconds: 3);

        var response = await ConvertAnsweredAsync(500, "answered-first");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var (id, code) = (body.GetProperty("conversionId").GetString(), body.GetProperty("code").GetString()!);
        Assert.Equal(500, body.GetProperty("balance").GetInt64());
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
        // At the answer the list's write is still with Shopify, and the drive still holds the conversion.
        Assert.Equal("list not written, lease held", await ListAndLeaseAsync(App, id));

        await LoyaltyApp.WaitUntilAsync(async () => await App.ScalarAsync<bool>(
            "SELECT metafield_synced_at IS NOT NULL AND locked_until IS NULL FROM conversions WHERE id = @id", new { id }), "the list written");
        Assert.Contains(code, Assert.Single(Shopify.OperationBodies(Shop, "SetLoyaltyCoupons")));
    }

    [Fact]
    public async Task The_drive_behind_the_answer_is_a_span_of_its_own_linked_to_the_request_and_the_parent_of_the_lists_write()
    {
        var spans = new System.Collections.Concurrent.ConcurrentQueue<System.Diagnostics.Activity>();
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name is ConversionDrives.ActivitySourceName or "Microsoft.AspNetCore" or "System.Net.Http",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) =>
                System.Diagnostics.ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = spans.Enqueue,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);

        var response = await ConvertAsync(500, "traced");

        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString();
        // The listener hears every app of the test process: the drive is this conversion's, the request the one whose path it was.
        var drive = spans.Single(a => a.DisplayName == "conversion drive" && (string?)a.GetTagItem("conversion.id") == id);
        Assert.Null(drive.Parent); // a trace of its own: the request's ends before the drive does
        var request = spans.Single(a => a.Source.Name == "Microsoft.AspNetCore" && a.SpanId == Assert.Single(drive.Links).Context.SpanId);
        Assert.NotEqual(request.TraceId, drive.TraceId);
        Assert.Contains(spans, a => a.Source.Name == "System.Net.Http" && a.ParentSpanId == drive.SpanId); // the calls it made hang under it
    }

    [Fact]
    public async Task A_cancellation_right_after_the_answer_waits_for_the_lists_write_and_gives_the_points_back_once()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        SlowListWrite(Shopify, Shop, seconds: 0.5); // well within the cancellation's wait (2 s)
        var code = (await (await ConvertAnsweredAsync(500, "cancel-at-once")).Content.ReadFromJsonAsync<JsonElement>())
            .GetProperty("code").GetString()!;

        var cancelled = await App.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", Shop, Customer),
            new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.OK, cancelled.StatusCode);
        Assert.Equal(1000, await App.BalanceAsync(Shop, Customer));
        Assert.Equal(1, Deletes);
        var writes = Shopify.OperationBodies(Shop, "SetLoyaltyCoupons");
        Assert.Equal(2, writes.Count); // the conversion's, then the cancellation's without the code
        Assert.Contains(code, writes[0]);
        Assert.DoesNotContain(code, writes[1]);
    }
}

/// <summary>A write Shopify is slow to answer: a cancellation waits for it only so long.</summary>
public sealed class SlowListCancellationTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    [Fact]
    public async Task A_cancellation_that_would_wait_longer_than_its_limit_is_told_the_coupon_is_in_progress_and_changes_nothing()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        AnswerBeforeListTests.SlowListWrite(Shopify, Shop, seconds: 6); // longer than the cancellation's wait (2 s)
        var converted = await ConvertAnsweredAsync(500, "cancel-too-soon");
        var code = (await converted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!;

        var cancelled = await App.Http.PostAsync(LoyaltyApp.ProxyPath($"/proxy/api/coupons/{code}/cancel", Shop, Customer),
            new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Conflict, cancelled.StatusCode);
        Assert.Equal("conversion_in_progress", (await cancelled.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        await App.ConversionSettledAsync(converted);
        Assert.Equal((500L, 0), (await App.BalanceAsync(Shop, Customer), Deletes));
        Assert.Equal("active", await App.ScalarAsync<string>("SELECT coupon_status FROM conversions WHERE code = @code", new { code }));
    }
}

/// <summary>With <c>Conversion:AnswerBeforeList</c> off the answer waits for the list's write, the seed's order.</summary>
public sealed class AnswerAfterListTests(AnswerAfterListTests.ListFirstApp app) : ConversionTestBase<AnswerAfterListTests.ListFirstApp>(app)
{
    public sealed class ListFirstApp() : ConversionApp(new() { ["Conversion:AnswerBeforeList"] = "false" });

    [Fact]
    public async Task The_answer_waits_for_the_lists_write()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        AnswerBeforeListTests.SlowListWrite(Shopify, Shop, seconds: 1);

        var response = await ConvertAnsweredAsync(500, "list-first");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString();
        Assert.Equal("list written, lease released", await AnswerBeforeListTests.ListAndLeaseAsync(App, id));
        Assert.Single(Shopify.OperationBodies(Shop, "SetLoyaltyCoupons"));
    }

    [Fact]
    public async Task A_list_Shopify_refuses_is_left_to_the_reconciler_with_the_lease_released_before_the_answer()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);
        Shopify.StubMetafieldsSetRefused(Shop);

        var response = await ConvertAnsweredAsync(500, "list-refused");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString();
        Assert.Equal("list not written, lease released", await AnswerBeforeListTests.ListAndLeaseAsync(App, id));
    }
}
