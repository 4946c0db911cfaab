namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// The customer's <c>loyalty.coupons</c> list is read from Shopify while the points are deducted, not after (issue 16: serial work
/// that could overlap; Conversion:ReadListAhead). The list written still comes after the deduction, holds the
/// new code and what was completed while Shopify answered; a read the bucket handed back is read again, another failure is left to
/// the reconciler, a stale write reads afresh, and a read for points that could not be deducted is never written. Decided from the
/// fakes' journals.
/// </summary>
public sealed class ListReadAheadTests(ListReadAheadTests.PatientPosApp app) : ConversionTestBase<ListReadAheadTests.PatientPosApp>(app)
{
    /// <summary>A POS that takes <see cref="DeductionTime"/> to answer a deduction is waited for, not retried.</summary>
    public sealed class PatientPosApp() : ConversionApp(new()
    {
        ["Pos:AttemptTimeoutSeconds"] = "10",
        ["Pos:TotalTimeoutSeconds"] = "20",
    });

    private static readonly TimeSpan DeductionTime = TimeSpan.FromSeconds(2);

    private static readonly TimeSpan CreationTime = TimeSpan.FromSeconds(1);

    private const string Read = "query LoyaltyCoupons", Write = "mutation SetLoyaltyCoupons", Create = "mutation CreateLoyaltyCode";

    private void PosDeductionAnswers(int status, object body) =>
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points/deductions").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(body).WithDelay(DeductionTime));

    private DateTime ShopifyReceived(string operation, int index) => Shopify.Server.LogEntries
        .Where(e => e.RequestMessage!.Path == ShopifyFake.GraphQLPath(Shop) && e.RequestMessage.Body!.Contains(operation, StringComparison.Ordinal))
        .Select(e => e.RequestMessage!.DateTime).ElementAt(index);

    private DateTime DeductionReceived => Pos.LogEntries
        .Single(e => e.RequestMessage!.Path.EndsWith("/points/deductions", StringComparison.Ordinal)).RequestMessage!.DateTime;

    /// <summary>POS mode, the customer holding 1,250 points there; Shopify creates the coupon and the POS takes the deduction in 2 s.</summary>
    private async Task PosTakesTheDeductionAsync()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(201, new { transactionId = "t_1", reference = "x", points = -500, balance = 750 });
    }

    /// <summary>The first read of the list (the one read ahead) gets <paramref name="answer"/>; later ones the shop's usual stub.</summary>
    private void FirstReadAnswers(IResponseBuilder answer) =>
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost()
                .WithBody(new WireMock.Matchers.WildcardMatcher($"*{Read}*")))
            .AtPriority(1).InScenario("read-ahead-" + Shop).WillSetStateTo("answered").RespondWith(answer);

    private Task<DateTimeOffset?> SyncedAtAsync(string key) => App.ScalarAsync<DateTimeOffset?>(
        "SELECT metafield_synced_at FROM conversions WHERE shop_domain = @shop AND idempotency_key = @key", new { shop = Shop, key });

    private IReadOnlyList<string> WrittenCodes() =>
        JsonDocument.Parse(JsonDocument.Parse(Shopify.OperationBodies(Shop, Write)[^1]).RootElement
                .GetProperty("variables").GetProperty("metafields")[0].GetProperty("value").GetString()!)
            .RootElement.EnumerateArray().Select(e => e.GetProperty("code").GetString()!).ToList();

    [Fact]
    public async Task Shopify_reads_the_list_while_the_POS_deducts_and_the_list_is_written_after_with_the_new_code()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop, delay: CreationTime);
        PosDeductionAnswers(201, new { transactionId = "t_1", reference = "x", points = -500, balance = 750 });

        var response = await ConvertAsync(500, "ahead-1");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var code = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        var answered = DeductionReceived + DeductionTime;
        // Read before the POS answered (it took 2 s): before this change the read was sent only after the deduction committed. Not
        // before Shopify answered the coupon (1 s): the read takes budget only once the bucket knows what the coupon left.
        Assert.True(ShopifyReceived(Read, 0) < answered,
            $"list read at {ShopifyReceived(Read, 0):HH:mm:ss.fff}, deduction answered at {answered:HH:mm:ss.fff}");
        Assert.True(ShopifyReceived(Read, 0) >= ShopifyReceived(Create, 0) + CreationTime, "the list was read before the coupon was answered");
        Assert.True(ShopifyReceived(Write, 0) >= answered, "the list was written before the points were deducted");
        Assert.Equal([code!], WrittenCodes());
        Assert.Single(Shopify.OperationBodies(Shop, Read)); // read once
    }

    /// <summary>The bucket's answer to the read ahead (HTTP 429, nothing applied): read again after the deduction, as before.</summary>
    [Fact]
    public async Task A_read_ahead_handed_back_for_budget_is_read_again_and_the_list_is_written_in_the_same_request()
    {
        await PosTakesTheDeductionAsync();
        FirstReadAnswers(Response.Create().WithStatusCode(429).WithHeader("Retry-After", "1"));

        var response = await ConvertAsync(500, "ahead-2");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var code = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        Assert.Equal(2, Shopify.OperationBodies(Shop, Read).Count);
        Assert.Equal([code!], WrittenCodes());
        Assert.NotNull(await SyncedAtAsync("ahead-2"));
    }

    /// <summary>Any other failure of the read ahead is the list's failure, left to the reconciler as before (not read twice in one drive).</summary>
    [Fact]
    public async Task A_read_ahead_that_failed_leaves_the_list_to_the_reconciler()
    {
        await PosTakesTheDeductionAsync();
        FirstReadAnswers(Response.Create().WithStatusCode(403));

        var response = await ConvertAsync(500, "ahead-4");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode); // the code and the points are right; the list follows
        Assert.Single(Shopify.OperationBodies(Shop, Read));
        Assert.Empty(Shopify.OperationBodies(Shop, Write));
        Assert.Null(await SyncedAtAsync("ahead-4"));

        await ReconcileAsync();

        Assert.Equal(2, Shopify.OperationBodies(Shop, Read).Count);
        Assert.Equal([(await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!], WrittenCodes());
        Assert.NotNull(await SyncedAtAsync("ahead-4"));
    }

    /// <summary>
    /// Our coupons are read after Shopify answered the read ahead, not as soon as the deduction committed: a coupon another driver
    /// completed while Shopify was answering (its row committed before its own write, which the answer may carry) is in the list.
    /// </summary>
    [Fact]
    public async Task A_coupon_completed_while_Shopify_answered_the_read_ahead_is_in_the_list()
    {
        await PosTakesTheDeductionAsync();
        string? other = null;
        FirstReadAnswers(Response.Create().WithCallback(_ =>
        {
            Thread.Sleep(DeductionTime + TimeSpan.FromSeconds(1)); // Shopify answers after the deduction committed, the other coupon just before
            other = LeftBehindAsync("completed", points: 300, discountId: "gid://shopify/DiscountCodeNode/77").GetAwaiter().GetResult();
            App.ScalarAsync<int>("UPDATE conversions SET coupon_status = 'active', completed_at = now() WHERE id = @other", new { other })
                .GetAwaiter().GetResult();
            return new WireMock.ResponseMessage
            {
                StatusCode = 200,
                BodyData = new WireMock.Util.BodyData
                {
                    DetectedBodyType = WireMock.Types.BodyType.Json,
                    BodyAsJson = new { data = new { customer = new { metafield = (object?)null } } },
                },
            };
        }));

        var response = await ConvertAsync(500, "ahead-5");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var code = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        var otherCode = await App.ScalarAsync<string>("SELECT code FROM conversions WHERE id = @other", new { other });
        Assert.Equal([otherCode!, code!], WrittenCodes()); // oldest first
    }

    /// <summary>A write refused as STALE_OBJECT reads the list afresh: the answer read ahead is used once.</summary>
    [Fact]
    public async Task A_stale_write_after_a_read_ahead_reads_the_list_again()
    {
        await PosTakesTheDeductionAsync();
        Shopify.StubMetafieldsSet(Shop, staleFirst: true);

        var response = await ConvertAsync(500, "ahead-6");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal((2, 2), (Shopify.OperationBodies(Shop, Read).Count, Shopify.OperationBodies(Shop, Write).Count));
        Assert.NotNull(await SyncedAtAsync("ahead-6"));
    }

    /// <summary>
    /// The read ahead left the bucket empty (Shopify's answer says so, refilling 2 points a second; 4 are back when the POS answers): the
    /// code is answered without waiting for room for the list's write, which the reconciler makes later (before, the request waited 3 s
    /// for it).
    /// </summary>
    [Fact]
    public async Task The_code_is_not_held_back_for_the_write_of_a_list_read_ahead()
    {
        await PosTakesTheDeductionAsync();
        FirstReadAnswers(Response.Create().WithStatusCode(200).WithBodyAsJson(new
        {
            data = new { customer = new { metafield = (object?)null } },
            extensions = new { cost = new { requestedQueryCost = 10, actualQueryCost = 10,
                throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 0.0, restoreRate = 2.0 } } },
        }));

        var response = await ConvertAsync(500, "ahead-7");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Single(Shopify.OperationBodies(Shop, Read));
        Assert.Empty(Shopify.OperationBodies(Shop, Write));
        Assert.Null(await SyncedAtAsync("ahead-7"));

        await LoyaltyApp.WaitUntilAsync(async () => await SyncedAtAsync("ahead-7") is not null, "the list written later", timeoutMs: 30_000);
        Assert.Contains((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString()!,
            Assert.Single(Shopify.OperationBodies(Shop, Write)));
    }

    /// <summary>The read is still under way when the POS refuses (it takes 4 s, the POS 2): the drive ends without it, never writing.</summary>
    [Fact]
    public async Task A_list_read_for_points_the_POS_refused_is_never_written()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(422, new { error = "insufficient_points", balance = 300 });
        FirstReadAnswers(Response.Create().WithStatusCode(200).WithDelay(2 * DeductionTime)
            .WithBodyAsJson(new { data = new { customer = new { metafield = (object?)null } } }));

        var response = await ConvertAsync(500, "ahead-3");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal((1, 1), (Creates, Deletes)); // the code was taken back
        await Task.Delay(2 * DeductionTime); // the read's answer has come by now (the fake journals a call once answered), and was dropped
        Assert.Single(Shopify.OperationBodies(Shop, Read));
        Assert.Empty(Shopify.OperationBodies(Shop, Write));
        Assert.Equal("failed", await App.ScalarAsync<string>(
            "SELECT state FROM conversions WHERE shop_domain = @shop AND idempotency_key = 'ahead-3'", new { shop = Shop }));
    }

    /// <summary>Only a customer's request, which waits for it, reads ahead; a reconciler's drive reads after the deduction, as before.</summary>
    [Fact]
    public async Task The_reconciler_reads_the_list_after_the_deduction()
    {
        await UsePosAsync(balance: 1250);
        PosDeductionAnswers(201, new { transactionId = "t_1", reference = "x", points = -500, balance = 750 });
        var id = await LeftBehindAsync("coupon_created", discountId: "gid://shopify/DiscountCodeNode/5", balanceSource: "pos");

        await ReconcileAsync();

        Assert.Equal("completed", await StateAsync(id));
        Assert.True(ShopifyReceived(Read, 0) >= DeductionReceived + DeductionTime, "the reconciler read the list ahead");
        Assert.Single(Shopify.OperationBodies(Shop, Write));
    }
}
