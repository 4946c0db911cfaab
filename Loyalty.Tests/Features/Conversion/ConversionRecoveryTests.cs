namespace Loyalty.Tests.Features.Conversion;

/// <summary>POS mode, compensations, unknown outcomes and crashes: whatever fails halfway ends consistent.</summary>
public sealed class ConversionRecoveryTests(ConversionApp app) : ConversionTestBase<ConversionApp>(app)
{
    private void PosDeductionAnswers(int status, object? body = null, TimeSpan? delay = null)
    {
        var response = Response.Create().WithStatusCode(status);
        if (delay is { } d) response = response.WithDelay(d);
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points/deductions").UsingPost())
            .RespondWith(body is null ? response : response.WithBodyAsJson(body));
    }

    private void PosLookupAnswers(string reference, bool applied) =>
        Pos.Given(Request.Create().WithPath($"/transactions/{reference}").UsingGet()).RespondWith(applied
            ? Response.Create().WithStatusCode(200).WithBodyAsJson(new { transactionId = "t1", customerId = "777", reference, points = -500,
                createdAt = "2026-11-23T10:00:00Z" })
            : Response.Create().WithStatusCode(404).WithBodyAsJson(new { error = "not_found" }));

    [Fact]
    public async Task In_POS_mode_the_POS_balance_is_checked_and_the_deduction_carries_the_conversion_id()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(201, new { transactionId = "t_1", reference = "x", points = -500, balance = 750 });
        var posCallsBefore = Pos.LogEntries.Count;

        var response = await ConvertAsync(500, "pos-1");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        var id = body.GetProperty("conversionId").GetString();
        Assert.Equal([id!], PosDeductions);
        // Two POS calls: the balance check and the deduction, whose answer carries the balance shown with the code
        // (the balance stub still says 1250).
        Assert.Equal(["GET /customers/777/points", "POST /customers/777/points/deductions"],
            Pos.LogEntries.Skip(posCallsBefore).Select(e => $"{e.RequestMessage!.Method} {e.RequestMessage.Path}"));
        Assert.Equal(750, body.GetProperty("balance").GetInt64());
        Assert.True(await App.ScalarAsync<bool>("SELECT pos_authoritative FROM point_transactions WHERE reference = @id", new { id }));
        // the POS already has it
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM pos_outbox WHERE shop_domain = @shop", new { shop = Shop }));
    }

    /// <summary>The POS takes the deduction (balance 750 after it), recording what <paramref name="sql"/> reads at that moment.</summary>
    private Func<string?> PosDeductionSees(string sql)
    {
        string? seen = null;
        Pos.Given(Request.Create().WithPath($"/customers/{Customer}/points/deductions").UsingPost()).RespondWith(Response.Create()
            .WithCallback(_ =>
            {
                seen = App.ScalarAsync<string>(sql, new { shop = Shop }).GetAwaiter().GetResult();
                return new WireMock.ResponseMessage
                {
                    StatusCode = 201,
                    BodyData = new WireMock.Util.BodyData
                    {
                        DetectedBodyType = WireMock.Types.BodyType.Json,
                        BodyAsJson = new { transactionId = "t_1", reference = "x", points = -500, balance = 750 },
                    },
                };
            }));
        return () => seen;
    }

    /// <summary>The conversion's state, coupon and whether a deduction is marked as sent within the last minute.</summary>
    private const string MarkSql = """
        SELECT concat_ws(' ', state, discount_id, 'marked now: ' || coalesce(deduct_attempted_at > now() - interval '1 minute', false))
        FROM conversions WHERE shop_domain = @shop
        """;

    [Fact]
    public async Task When_the_POS_receives_the_deduction_the_coupon_and_the_deductions_mark_are_already_recorded()
    {
        // What a crash at that moment leaves must send the reconciler to the POS by reference: the coupon recorded and the deduction
        // marked as possibly sent, as the POS sees the request. The request's drive writes both in the coupon's UPDATE.
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        var seen = PosDeductionSees(MarkSql);

        var response = await ConvertAsync(500, "pos-marked");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("coupon_created gid://shopify/DiscountCodeNode/1001 marked now: true", seen());
    }

    [Fact]
    public async Task A_deduction_left_behind_is_marked_afresh_by_the_reconciler_before_it_is_sent_again()
    {
        // An hour-old mark must not stand for this send: a settle counts SettleAfterSeconds from the last one.
        await UsePosAsync(balance: 1250);
        var id = await LeftBehindAsync("coupon_created", discountId: "gid://shopify/DiscountCodeNode/5", balanceSource: "pos");
        await App.ScalarAsync<int>("UPDATE conversions SET deduct_attempted_at = now() - interval '1 hour' WHERE id = @id", new { id });
        var seen = PosDeductionSees(MarkSql);

        await ReconcileAsync();

        Assert.Equal("coupon_created gid://shopify/DiscountCodeNode/5 marked now: true", seen());
        Assert.Equal("completed", await StateAsync(id));
        Assert.Equal([id], PosDeductions);
    }

    [Fact]
    public async Task A_deduction_the_POS_refuses_deletes_the_coupon_and_fails_with_the_reason()
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(422, new { error = "insufficient_points", balance = 300 });

        var response = await ConvertAsync(500, "pos-refused");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.Contains("insufficient_points", await response.Content.ReadAsStringAsync());
        Assert.Equal((1, 1), (Creates, Deletes));
        Assert.Contains("gid://shopify/DiscountCodeNode/1001", Assert.Single(Shopify.OperationBodies(Shop, "DeleteLoyaltyCode")));
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task An_unknown_deduction_is_never_guessed_and_is_settled_by_reference(bool appliedAtPos)
    {
        await UsePosAsync(balance: 1250);
        Shopify.StubDiscountCreate(Shop);
        PosDeductionAnswers(503);

        var response = await ConvertAsync(500, "pos-unknown");

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        var accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("settling", accepted.GetProperty("status").GetString());
        Assert.False(accepted.TryGetProperty("code", out _)); // the code is never shown before the points are deducted
        var id = accepted.GetProperty("conversionId").GetString()!;
        PosLookupAnswers(id, appliedAtPos);

        await ReconcileAsync();

        Assert.Equal(appliedAtPos ? "completed" : "failed", await StateAsync(id));
        Assert.Equal(appliedAtPos ? 0 : 1, Deletes);
        var poll = await App.Http.GetAsync(LoyaltyApp.ProxyPath($"/proxy/api/conversions/{id}", Shop, Customer));
        Assert.Equal(appliedAtPos ? HttpStatusCode.OK : HttpStatusCode.ServiceUnavailable, poll.StatusCode);
        Assert.Equal(appliedAtPos ? -500L : 0L, await App.ScalarAsync<long>(
            "SELECT coalesce(sum(points), 0) FROM point_transactions WHERE shop_domain = @shop AND kind = 'conversion'", new { shop = Shop }));
    }

    [Fact]
    public async Task Crash_before_the_coupon_was_created_fails_the_conversion_without_deducting()
    {
        await GiveAsync(1000);
        Shopify.StubFindCode(Shop, null);
        var id = await LeftBehindAsync("pending");

        await ReconcileAsync();

        Assert.Equal("failed", await StateAsync(id));
        Assert.Equal((0, 1000L), (Creates, (long)await App.BalanceAsync(Shop, Customer)));
    }

    [Fact]
    public async Task Crash_after_Shopify_created_the_coupon_but_before_it_was_recorded_finds_it_and_completes()
    {
        await GiveAsync(1000);
        var id = await LeftBehindAsync("pending");
        Shopify.StubFindCode(Shop, "gid://shopify/DiscountCodeNode/77", $"Loyalty reward: 500 points ({id})");

        await ReconcileAsync();

        Assert.Equal("completed", await StateAsync(id));
        Assert.Equal("gid://shopify/DiscountCodeNode/77", await App.ScalarAsync<string>("SELECT discount_id FROM conversions WHERE id = @id",
            new { id }));
        Assert.Equal((0, 500L), (Creates, (long)await App.BalanceAsync(Shop, Customer)));
    }

    [Fact]
    public async Task Crash_after_the_coupon_before_the_deduction_deducts_once_even_with_two_reconcilers_at_once()
    {
        await GiveAsync(1000);
        var id = await LeftBehindAsync("coupon_created", discountId: "gid://shopify/DiscountCodeNode/5");

        await Task.WhenAll(ReconcileAsync(), ReconcileAsync());
        await ReconcileAsync();

        Assert.Equal("completed", await StateAsync(id));
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
        Assert.Single(Shopify.OperationBodies(Shop, "SetLoyaltyCoupons"));
    }

    [Fact]
    public async Task Crash_after_the_deduction_before_the_metafield_repairs_the_metafield()
    {
        var id = await LeftBehindAsync("completed", discountId: "gid://shopify/DiscountCodeNode/6");

        await ReconcileAsync();

        Assert.NotNull(await App.ScalarAsync<DateTime?>("SELECT metafield_synced_at FROM conversions WHERE id = @id", new { id }));
        Assert.Single(Shopify.OperationBodies(Shop, "SetLoyaltyCoupons"));
    }

    [Fact]
    public async Task Crash_during_compensation_deletes_the_coupon_and_fails_once()
    {
        var id = await LeftBehindAsync("compensating", discountId: "gid://shopify/DiscountCodeNode/8", failureCode: "insufficient_points");

        await ReconcileAsync();
        await ReconcileAsync();

        Assert.Equal("failed", await StateAsync(id));
        Assert.Equal(1, Deletes);
    }

    [Fact]
    public async Task What_the_reconciler_cannot_settle_waits_in_needs_review_for_the_merchant()
    {
        Shopify.ResetMappings(Shop); // replace the base class's successful delete
        Shopify.StubDiscountDelete(Shop, userError: "Discount is locked by another app");
        var id = await LeftBehindAsync("compensating", discountId: "gid://shopify/DiscountCodeNode/9", failureCode: "insufficient_points");

        await ReconcileAsync();

        Assert.Equal("needs_review", await StateAsync(id));
        var list = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/conversions?state=needs_review", Shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        var item = Assert.Single(list.EnumerateArray());
        Assert.Equal(id, item.GetProperty("id").GetString());
        Assert.Contains("locked by another app", item.GetProperty("failureReason").GetString());
    }

    [Fact]
    public async Task In_POS_mode_points_taken_back_but_not_yet_at_the_POS_cannot_be_spent()
    {
        await GiveAsync(1000);
        await UsePosAsync(balance: 1000); // the POS has not heard of the deduction below yet
        var request = App.Admin(HttpMethod.Post, $"/api/admin/customers/{Customer}/points", Shop,
            JsonContent.Create(new { points = -600, description = "order returned in store" }));
        request.Headers.Add("Idempotency-Key", "take-back");
        (await App.Http.SendAsync(request)).EnsureSuccessStatusCode();
        Shopify.StubDiscountCreate(Shop);

        var response = await ConvertAsync(500, "spend-taken-back");

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(("insufficient_points", 400L), (problem.GetProperty("code").GetString(), problem.GetProperty("balance").GetInt64()));
        Assert.Equal(0, Creates);
        Assert.DoesNotContain(PosDeductions, r => r.StartsWith("conv_", StringComparison.Ordinal)); // only the adjustment's own delivery
    }

    [Fact]
    public async Task A_clawback_floored_at_zero_leaves_the_points_a_POS_conversion_in_progress_holds()
    {
        await GiveAsync(1000);
        await LeftBehindAsync("coupon_created", points: 500, discountId: "gid://shopify/DiscountCodeNode/6", balanceSource: "pos");

        await using var conn = await App.Db.OpenConnectionAsync();
        await using var tx = await conn.BeginTransactionAsync();
        var posted = await Loyalty.ShopifyApp.Features.Points.Ledger.PostAsync(conn, tx, new Loyalty.ShopifyApp.Features.Points.PointsEntry(
            Shop, Customer, -800, "refund_clawback", "refund:1", "Refund on order #1", "system"),
            new Loyalty.ShopifyApp.Features.Points.Posting(QueueForPos: false, FloorAtZero: true), default);
        await tx.CommitAsync();

        Assert.Equal(-500, posted.Points); // 1000 in the ledger, 500 of them on their way to the POS as a deduction
        Assert.Equal(500, await App.BalanceAsync(Shop, Customer));
    }
}
