using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Campaigns;
using Loyalty.ShopifyApp.Features.Tiers;
using Loyalty.Tests.Features.Campaigns;

namespace Loyalty.Tests.Features.Tiers;

/// <summary>
/// A campaign limited to a VIP tier: its discount's context is a Shopify customer segment on the tier's customer tag. Judged by
/// what the Shopify simulator's checkout accepts (<see cref="ShopifySimulator.Redeem"/>: the discount's segments, evaluated over the
/// tags Shopify holds for the customer) and by the segments it holds, never by the app's tables.
/// </summary>
public sealed class TierCampaignTests(TierCampaignTests.SegmentApp app) : AppTests<TierCampaignTests.SegmentApp>(app)
{
    public sealed class SegmentApp() : AppFixture(new() { ["Jobs:ServerEnabled"] = "false" }, shopifySimulator: true);

    private ShopifySimulator Simulator => Fixture.Simulator;

    /// <summary>Codes are unique across the simulator's shops: this test's end of them.</summary>
    private string Unique { get; } = Guid.NewGuid().ToString("N")[..8].ToUpperInvariant();

    private async Task<long> TierAsync(string name, decimal threshold, string? customerTag)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", Shop,
            JsonContent.Create(new { name, threshold, multiplier = 1m, customerTag })));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
    }

    private Task PaidAsync(long orderId, long customer, decimal amount) =>
        App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(orderId, customer, subtotal: amount, total: amount));

    private Task<int> TagsAsync() => App.Services.GetRequiredService<CustomerTags>().ApplyDueAsync(default);

    private async Task<HttpResponseMessage> CampaignAsync(object body)
    {
        using var request = App.Admin(HttpMethod.Post, "/api/admin/campaigns", Shop, JsonContent.Create(body));
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        return await App.Http.SendAsync(request);
    }

    private async Task<string?> VerdictAsync(string code, long customer)
    {
        var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/coupons/validate", Shop,
            JsonContent.Create(new { code, customerId = customer })));
        var verdict = await response.Content.ReadFromJsonAsync<JsonElement>();
        return verdict.GetProperty("valid").GetBoolean() ? null : verdict.GetProperty("reason").GetString();
    }

    [Fact]
    public async Task Only_the_tiers_members_can_use_its_campaign_at_Shopifys_checkout_and_a_member_who_leaves_no_longer_can()
    {
        var gold = await TierAsync("Gold", 100, "Gold members");
        await PaidAsync(8101, 91, 150m); // a member by the rules
        await PaidAsync(8102, 92, 20m);  // not a member
        await TagsAsync();

        var id = await App.CreateCampaignAsync(Shop, new { title = "Gold week", percentage = 15m, code = $"GOLD{Unique}", tierId = gold });
        var code = $"GOLD{Unique}";
        var segment = Assert.Single(Simulator.Segments(Shop));
        Assert.Equal("customer_tags CONTAINS 'Gold members'", segment.Query);
        Assert.Equal(segment.Id, Simulator.DiscountWithCode(code)!.Input!["context"]!["customerSegments"]!["add"]![0]!.GetValue<string>());
        using var got = await App.Http.SendAsync(App.Admin(HttpMethod.Get, $"/api/admin/campaigns/{id}", Shop));
        var view = await got.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(gold, view.GetProperty("tierId").GetInt64());

        Assert.Null(await VerdictAsync(code, 91));
        Assert.Equal("not_eligible", await VerdictAsync(code, 92));
        Assert.False(Simulator.Redeem(code, 92));
        Assert.True(Simulator.Redeem(code, 91));

        await App.DeliverAsync("refunds/create", Shop, ShopifyPayloads.Refund(81011, 8101, 150m)); // buy and return: out of the tier
        await TagsAsync();
        Assert.False(Simulator.Redeem(code, 91));
        Assert.Equal("not_eligible", await VerdictAsync(code, 91));
    }

    [Fact]
    public async Task A_second_campaign_for_the_tier_uses_its_segment_and_a_new_tag_moves_the_segment_so_members_keep_their_campaigns()
    {
        var gold = await TierAsync("Gold", 100, "Gold A");
        await PaidAsync(8201, 93, 150m);
        await TagsAsync();
        await App.CreateCampaignAsync(Shop, new { title = "One", fixedAmount = 5m, code = $"ONE{Unique}", tierId = gold });
        await App.CreateCampaignAsync(Shop, new { title = "Two", fixedAmount = 5m, code = $"TWO{Unique}", tierId = gold });
        Assert.Single(Simulator.Segments(Shop));

        var retag = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/tiers/{gold}", Shop,
            JsonContent.Create(new { name = "Gold", threshold = 100m, multiplier = 1m, customerTag = "Gold B" })));
        Assert.Equal(HttpStatusCode.OK, retag.StatusCode);
        await TagsAsync(); // the member now carries Gold B only: until the segment follows, Shopify would refuse them
        Assert.False(Simulator.Redeem($"ONE{Unique}", 93));

        Assert.True(await App.Services.GetRequiredService<TierSegments>().SyncDueAsync(default) >= 1);
        Assert.Equal("customer_tags CONTAINS 'Gold B'", Assert.Single(Simulator.Segments(Shop)).Query);
        Assert.True(Simulator.Redeem($"ONE{Unique}", 93));
        Assert.True(Simulator.Redeem($"TWO{Unique}", 93));
    }

    [Fact]
    public async Task A_segment_created_whose_answer_was_lost_is_found_by_its_name_and_never_made_twice()
    {
        var gold = await TierAsync("Gold", 100, "Gold lost");
        var lost = 0;
        Simulator.FaultForMutation = op =>
            op == "CreateTierSegment" && Interlocked.Increment(ref lost) == 1 ? ShopifyFault.AppliedButAnswerLost : null;
        try
        {
            using var first = await CampaignAsync(new { title = "Lost", percentage = 10m, code = $"LOST{Unique}", tierId = gold });
            Assert.Equal(HttpStatusCode.Accepted, first.StatusCode); // Shopify did not answer: finished by a later run
            var id = (await first.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
            Assert.True(await App.Services.GetRequiredService<CampaignGeneration>().TryRunAsync(id, null, default));
        }
        finally
        {
            Simulator.FaultForMutation = null;
        }
        var segment = Assert.Single(Simulator.Segments(Shop));
        Assert.Equal(segment.Id, Simulator.DiscountWithCode($"LOST{Unique}")!.Input!["context"]!["customerSegments"]!["add"]![0]!.GetValue<string>());
    }

    [Fact]
    public async Task Editing_a_tier_campaign_keeps_it_for_the_tier_and_its_audience_cannot_be_swapped_for_a_list()
    {
        var gold = await TierAsync("Gold", 100, "Gold edit");
        await PaidAsync(8401, 94, 150m);
        await TagsAsync();
        var id = await App.CreateCampaignAsync(Shop, new { title = "Edit me", percentage = 10m, code = $"EDIT{Unique}", tierId = gold });

        var edit = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/campaigns/{id}", Shop,
            JsonContent.Create(new { title = "Edited", usageLimit = 10 })));
        Assert.Equal(HttpStatusCode.OK, edit.StatusCode);
        Assert.NotNull(Simulator.DiscountWithCode($"EDIT{Unique}")!.Input!["context"]!["customerSegments"]);
        Assert.True(Simulator.Redeem($"EDIT{Unique}", 94));
        Assert.False(Simulator.Redeem($"EDIT{Unique}", 95));

        var list = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/campaigns/{id}", Shop,
            JsonContent.Create(new { customerIds = new[] { 95L } })));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, list.StatusCode);
        Assert.True((await list.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("customerIds", out _));
    }

    [Fact]
    public async Task A_tier_without_a_tag_another_shops_tier_or_a_tier_with_a_customer_list_is_refused_before_anything_is_sent()
    {
        var untagged = await TierAsync("Plain", 100, customerTag: null);
        var tagged = await TierAsync("Gold", 200, "Gold refused");
        var otherShop = await Fixture.NewShopAsync();
        var response0 = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", otherShop,
            JsonContent.Create(new { name = "Theirs", threshold = 100m, multiplier = 1m, customerTag = "Theirs" })));
        var theirs = (await response0.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
        var before = Simulator.Discounts().Count;
        foreach (var body in new object[]
                 {
                     new { title = "No tag", percentage = 10m, tierId = untagged },
                     new { title = "Another shop's", percentage = 10m, tierId = theirs },
                     new { title = "Both", percentage = 10m, tierId = tagged, customerIds = new[] { 1L } },
                 })
        {
            using var response = await CampaignAsync(body);
            Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
            var problem = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Equal("invalid_campaign", problem.GetProperty("code").GetString());
            Assert.True(problem.GetProperty("errors").TryGetProperty("tierId", out _));
        }
        Assert.Equal(before, Simulator.Discounts().Count);
        Assert.Empty(Simulator.Segments(Shop));
        Assert.Empty(Simulator.Segments(otherShop));
    }

    [Fact]
    public async Task A_tag_two_tiers_share_cannot_limit_a_campaign_and_a_tier_in_campaigns_keeps_its_tag_to_itself()
    {
        var gold = await TierAsync("Gold", 100, "VIP");
        var platinum = await TierAsync("Platinum", 500, "vip"); // Shopify's tags ignore case: the same tag
        using (var shared = await CampaignAsync(new { title = "Platinum only", percentage = 10m, tierId = platinum }))
        {
            Assert.Equal(HttpStatusCode.UnprocessableEntity, shared.StatusCode); // its segment would let Gold's members in
        }
        var retag = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/tiers/{platinum}", Shop,
            JsonContent.Create(new { name = "Platinum", threshold = 500m, multiplier = 1m, customerTag = "Platinum club" })));
        Assert.Equal(HttpStatusCode.OK, retag.StatusCode);
        await App.CreateCampaignAsync(Shop, new { title = "Platinum only", percentage = 10m, code = $"PLAT{Unique}", tierId = platinum });

        var join = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/tiers/{gold}", Shop,
            JsonContent.Create(new { name = "Gold", threshold = 100m, multiplier = 1m, customerTag = "platinum CLUB" })));
        Assert.Equal(HttpStatusCode.Conflict, join.StatusCode);
        Assert.Equal("tier_in_campaigns", (await join.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var newcomer = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/tiers", Shop,
            JsonContent.Create(new { name = "Silver", threshold = 50m, multiplier = 1m, customerTag = "Platinum club" })));
        Assert.Equal(HttpStatusCode.Conflict, newcomer.StatusCode);
        Assert.Equal("tier_in_campaigns", (await newcomer.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
    }

    [Fact]
    public async Task A_segment_the_merchant_deleted_in_Shopify_is_made_again_and_the_tiers_live_campaigns_move_onto_it()
    {
        var gold = await TierAsync("Gold", 100, "Gold again");
        await PaidAsync(8501, 96, 150m);
        await TagsAsync();
        await App.CreateCampaignAsync(Shop, new { title = "First", percentage = 10m, code = $"FIRST{Unique}", tierId = gold });
        var first = Assert.Single(Simulator.Segments(Shop));
        Assert.True(Simulator.DeleteSegment(first.Id));
        Assert.False(Simulator.Redeem($"FIRST{Unique}", 96)); // open to no one now

        await App.CreateCampaignAsync(Shop, new { title = "Second", percentage = 10m, code = $"SECOND{Unique}", tierId = gold });
        var second = Assert.Single(Simulator.Segments(Shop));
        Assert.NotEqual(first.Id, second.Id);
        Assert.True(Simulator.Redeem($"SECOND{Unique}", 96));
        Assert.True(Simulator.Redeem($"FIRST{Unique}", 96));

        Simulator.ChangeSegmentQuery(second.Id, "customer_tags CONTAINS 'anyone'"); // the merchant edits it in Shopify's admin
        await App.CreateCampaignAsync(Shop, new { title = "Third", percentage = 10m, code = $"THIRD{Unique}", tierId = gold });
        Assert.Equal("customer_tags CONTAINS 'Gold again'", Assert.Single(Simulator.Segments(Shop)).Query);
    }

    [Fact]
    public async Task A_failed_tier_campaign_retried_after_another_tier_took_its_tag_fails_again_rather_than_open_to_both()
    {
        var platinum = await TierAsync("Platinum", 500, "Platinum retry");
        var code = $"RETRY{Unique}";
        var otherShop = await Fixture.NewShopAsync();
        await App.CreateCampaignAsync(otherShop, new { title = "Theirs", percentage = 5m, code }); // Shopify's codes are unique across shops
        using (var refused = await CampaignAsync(new { title = "Platinum only", percentage = 10m, code, tierId = platinum }))
        {
            Assert.Equal(HttpStatusCode.BadGateway, refused.StatusCode);
        }
        var id = await App.ScalarAsync<long>("SELECT id FROM campaigns WHERE shop_domain = @Shop AND title = 'Platinum only'", new { Shop });
        await TierAsync("Gold", 100, "platinum RETRY"); // allowed: the failed campaign holds no tag
        Assert.True(Simulator.DeleteDiscountWithCode(code)); // the code is free in Shopify again

        using var retry = await App.Http.SendAsync(App.Admin(HttpMethod.Post, $"/api/admin/campaigns/{id}/retry", Shop));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, retry.StatusCode); // the app's rule refuses it, not Shopify: no 5xx
        Assert.Null(Simulator.DiscountWithCode(code)); // no discount on a segment Gold's members are in
    }

    [Fact]
    public async Task A_live_campaign_whose_discount_is_gone_does_not_fail_the_next_campaign_when_the_segment_is_made_again()
    {
        var gold = await TierAsync("Gold", 100, "Gold gone");
        await PaidAsync(8601, 97, 150m);
        await TagsAsync();
        await App.CreateCampaignAsync(Shop, new { title = "Kept", percentage = 10m, code = $"KEPT{Unique}", tierId = gold });
        await App.CreateCampaignAsync(Shop, new { title = "Gone", percentage = 10m, code = $"GONE{Unique}", tierId = gold });
        Assert.True(Simulator.DeleteDiscountWithCode($"GONE{Unique}"));
        Assert.True(Simulator.DeleteSegment(Assert.Single(Simulator.Segments(Shop)).Id));

        await App.CreateCampaignAsync(Shop, new { title = "Next", percentage = 10m, code = $"NEXT{Unique}", tierId = gold });
        Assert.True(Simulator.Redeem($"NEXT{Unique}", 97));
        Assert.True(Simulator.Redeem($"KEPT{Unique}", 97));
    }

    [Fact]
    public async Task Two_runs_for_one_tier_leave_its_segment_on_the_tag_the_tier_has_now()
    {
        var gold = await TierAsync("Gold", 100, "Tag one");
        await App.CreateCampaignAsync(Shop, new { title = "Race", percentage = 10m, code = $"RACE{Unique}", tierId = gold });
        await App.ScalarAsync<int>("UPDATE tiers SET customer_tag = 'Tag two' WHERE id = @gold RETURNING 1", new { gold });
        var segments = App.Services.GetRequiredService<TierSegments>();
        Task? second = null;
        var once = 0;
        Simulator.BeforeMutation = op =>
        {
            // The first run's move reaches Shopify late: meanwhile the tag changes again and a second run starts.
            if (op != "UpdateTierSegment" || Interlocked.Increment(ref once) != 1) return;
            App.ScalarAsync<int>("UPDATE tiers SET customer_tag = 'Tag three' WHERE id = @gold RETURNING 1", new { gold }).GetAwaiter().GetResult();
            second = Task.Run(() => segments.EnsureAsync(Shop, gold, null, default));
            Thread.Sleep(700);
        };
        try
        {
            await segments.EnsureAsync(Shop, gold, null, default);
            await second!;
        }
        finally
        {
            Simulator.BeforeMutation = null;
        }
        Assert.Equal("customer_tags CONTAINS 'Tag three'", Assert.Single(Simulator.Segments(Shop)).Query);
    }

    [Fact]
    public async Task A_tier_with_a_live_campaign_keeps_its_tag_and_cannot_be_archived_until_the_campaign_is_over()
    {
        var gold = await TierAsync("Gold", 100, "Gold kept");
        var id = await App.CreateCampaignAsync(Shop, new { title = "Live", percentage = 10m, code = $"LIVE{Unique}", tierId = gold });

        var untag = await App.Http.SendAsync(App.Admin(HttpMethod.Put, $"/api/admin/tiers/{gold}", Shop,
            JsonContent.Create(new { name = "Gold", threshold = 100m, multiplier = 1m, customerTag = "" })));
        Assert.Equal(HttpStatusCode.Conflict, untag.StatusCode);
        Assert.Equal("tier_in_campaigns", (await untag.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        var archive = await App.Http.SendAsync(App.Admin(HttpMethod.Delete, $"/api/admin/tiers/{gold}", Shop));
        Assert.Equal(HttpStatusCode.Conflict, archive.StatusCode);
        // Past its end it still holds the tier: an edit could extend it.
        await App.ScalarAsync<int>(
            "UPDATE campaigns SET starts_at = now() - interval '2 days', ends_at = now() - interval '1 day' WHERE id = @id RETURNING 1", new { id });
        Assert.Equal(HttpStatusCode.Conflict, (await App.Http.SendAsync(App.Admin(HttpMethod.Delete, $"/api/admin/tiers/{gold}", Shop))).StatusCode);

        var off = await App.Http.SendAsync(App.Admin(HttpMethod.Delete, $"/api/admin/campaigns/{id}", Shop));
        Assert.True(off.IsSuccessStatusCode, await off.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.NoContent, (await App.Http.SendAsync(App.Admin(HttpMethod.Delete, $"/api/admin/tiers/{gold}", Shop))).StatusCode);
    }
}
