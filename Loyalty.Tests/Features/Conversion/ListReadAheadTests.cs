namespace Loyalty.Tests.Features.Conversion;

/// <summary>
/// The customer's <c>loyalty.coupons</c> list is read from Shopify while the points are deducted, not after (issue 16: serial work
/// that could overlap; Conversion:ReadListDuringDeduction). The list written still comes after the deduction and holds the new code;
/// a read ahead that failed is read again, and one for points that could not be deducted is never written. Decided from the fakes'
/// journals: when Shopify and the POS received each call.
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

    private const string Read = "query LoyaltyCoupons", Write = "mutation SetLoyaltyCoupons";

    private void PosDeductionAnswers(int status, object body) =>
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points/deductions").UsingPost())
            .RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(body).WithDelay(DeductionTime));

    private DateTime ShopifyReceived(string operation, int index) => Shopify.Server.LogEntries
        .Where(e => e.RequestMessage!.Path == ShopifyFake.GraphQLPath(Shop) && e.RequestMessage.Body!.Contains(operation, StringComparison.Ordinal))
        .Select(e => e.RequestMessage!.DateTime).ElementAt(index);

    private DateTime DeductionReceived => Pos.LogEntries
        .Single(e => e.RequestMessage!.Path.EndsWith("/points/deductions", StringComparison.Ordinal)).RequestMessage!.DateTime;

    private IReadOnlyList<string> WrittenCodes() =>
        JsonDocument.Parse(JsonDocument.Parse(Assert.Single(Shopify.OperationBodies(Shop, Write))).RootElement
                .GetProperty("variables").GetProperty("metafields")[0].GetProperty("value").GetString()!)
            .RootElement.EnumerateArray().Select(e => e.GetProperty("code").GetString()!).ToList();

    [Fact]
    public async Task Shopify_reads_the_list_while_the_POS_deducts_and_the_list_is_written_after_with_the_new_code()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(201, new { transactionId = "t_1", reference = "x", points = -500, balance = 750 });

        var response = await ConvertAsync(500, "ahead-1");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var code = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        var answered = DeductionReceived + DeductionTime;
        // Read before the POS answered (it took 2 s): before this change the read was sent only after the deduction committed.
        Assert.True(ShopifyReceived(Read, 0) < answered,
            $"list read at {ShopifyReceived(Read, 0):HH:mm:ss.fff}, deduction answered at {answered:HH:mm:ss.fff}");
        Assert.True(ShopifyReceived(Write, 0) >= answered, "the list was written before the points were deducted");
        Assert.Equal([code!], WrittenCodes());
        Assert.Single(Shopify.OperationBodies(Shop, Read)); // read once
    }

    [Fact]
    public async Task A_read_ahead_that_failed_is_read_again_and_the_list_is_written_in_the_same_request()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(201, new { transactionId = "t_1", reference = "x", points = -500, balance = 750 });
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(new WireMock.Matchers.WildcardMatcher(
                $"*{Read}*")))
            .AtPriority(1).InScenario("read-ahead-" + Shop).WillSetStateTo("answered")
            .RespondWith(Response.Create().WithStatusCode(403)); // not retried by the client: the read ahead fails

        var response = await ConvertAsync(500, "ahead-2");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var code = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        Assert.Equal(2, Shopify.OperationBodies(Shop, Read).Count);
        Assert.Equal([code!], WrittenCodes());
        Assert.NotNull(await App.ScalarAsync<DateTimeOffset?>(
            "SELECT metafield_synced_at FROM conversions WHERE shop_domain = @shop AND idempotency_key = 'ahead-2'", new { shop = Shop }));
    }

    [Fact]
    public async Task A_list_read_for_points_the_POS_refused_is_never_written()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(422, new { error = "insufficient_points", balance = 300 });

        var response = await ConvertAsync(500, "ahead-3");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Equal((1, 1), (Creates, Deletes)); // the code was taken back
        Assert.Single(Shopify.OperationBodies(Shop, Read)); // read while the POS was asked, then dropped
        Assert.Empty(Shopify.OperationBodies(Shop, Write));
    }
}
