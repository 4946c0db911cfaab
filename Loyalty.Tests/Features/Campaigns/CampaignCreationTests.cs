using Hangfire;
using Loyalty.ShopifyApp.Features.Campaigns;
using WireMock.Matchers;

namespace Loyalty.Tests.Features.Campaigns;

/// <summary>
/// Creating a campaign survives a lost answer and a Shopify outage: one campaign per Idempotency-Key, a single code
/// Shopify could not create is finished in the background (looked up before it is created again), and a campaign
/// that failed or got stuck can be retried or released.
/// </summary>
public sealed class CampaignCreationTests(CampaignCreationTests.CampaignApp app) : AppTests<CampaignCreationTests.CampaignApp>(app)
{
    // The tests run the background job themselves: no Hangfire server here, the job is only looked for in storage.
    public sealed class CampaignApp() : AppFixture(new() { ["Jobs:ServerEnabled"] = "false" });

    private async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpMethod method, string path, object? body = null, string? key = null)
    {
        using var request = App.Admin(method, path, Shop, body is null ? null : JsonContent.Create(body));
        if (key is not null) request.Headers.Add("Idempotency-Key", key);
        using var response = await App.Http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    private Task<(HttpStatusCode Status, JsonElement Body)> CreateAsync(object body, string? key) =>
        SendAsync(HttpMethod.Post, "/api/admin/campaigns", body, key);

    private IReadOnlyList<string> Creates => Shopify.OperationBodies(Shop, "CreateLoyaltyCode");

    private Task<long> CampaignsAsync() => App.ScalarAsync<long>("SELECT count(*) FROM campaigns WHERE shop_domain = @shop", new { shop = Shop });

    /// <summary>Shopify again, from scratch: the code is not there (or is, as <paramref name="found"/>), and a create succeeds.</summary>
    private void ShopifyIsBack(string? found = null, string? foundTitle = null)
    {
        Shopify.ResetMappings(Shop);
        Shopify.StubTokenExchange(Shop);
        Shopify.StubFindCode(Shop, found, foundTitle);
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/80");
    }

    /// <summary>Campaign generation jobs waiting in Hangfire's storage, by campaign id.</summary>
    private List<long> WaitingJobs()
    {
        var monitor = App.Services.GetRequiredService<JobStorage>().GetMonitoringApi();
        return monitor.ScheduledJobs(0, 100).Select(j => j.Value.Job)
            .Concat(monitor.EnqueuedJobs("default", 0, 100).Select(j => j.Value.Job))
            .Where(j => j.Type == typeof(CampaignGeneration)).Select(
                j => Convert.ToInt64(j.Args[0], System.Globalization.CultureInfo.InvariantCulture)).ToList();
    }

    [Fact]
    public async Task A_resend_with_the_same_key_gets_the_first_answer_and_no_second_campaign()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/7");
        var body = new { title = "Welcome", percentage = 10 };

        var first = await CreateAsync(body, "key-1");
        var again = await CreateAsync(body, "key-1");

        Assert.Equal((HttpStatusCode.Created, HttpStatusCode.Created), (first.Status, again.Status));
        Assert.Equal(first.Body.GetProperty("id").GetInt64(), again.Body.GetProperty("id").GetInt64());
        Assert.Single(Creates);
        Assert.Equal(1L, await CampaignsAsync());
    }

    [Fact]
    public async Task The_same_key_with_another_body_is_refused_and_so_is_a_missing_key()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/7");

        var first = await CreateAsync(new { title = "Welcome", percentage = 10 }, "key-2");
        var reused = await CreateAsync(new { title = "Welcome", percentage = 20 }, "key-2");
        var keyless = await CreateAsync(new { title = "Welcome", percentage = 10 }, null);

        Assert.Equal(HttpStatusCode.Created, first.Status);
        Assert.Equal((HttpStatusCode.Conflict, "idempotency_key_reused"), (reused.Status, reused.Body.GetProperty("code").GetString()));
        Assert.Equal((HttpStatusCode.BadRequest, "idempotency_key_required"), (keyless.Status, keyless.Body.GetProperty("code").GetString()));
        Assert.Single(Creates);
        Assert.Equal(1L, await CampaignsAsync());
    }

    [Fact]
    public async Task Concurrent_requests_with_the_same_key_make_one_campaign_and_never_a_500()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(
            new WildcardMatcher("*CreateLoyaltyCode*")))
            .AtPriority(1).RespondWith(Response.Create().WithStatusCode(200).WithDelay(TimeSpan.FromMilliseconds(500)).WithBodyAsJson(new
            {
                data = new { discountCodeBasicCreate = new { codeDiscountNode = new { id = "gid://shopify/DiscountCodeNode/8" },
                    userErrors = Array.Empty<object>() } },
            }));
        var body = new { title = "Rush", fixedAmount = 5 };

        var answers = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => CreateAsync(body, "key-3")));

        Assert.All(answers, a => Assert.True(a.Status is HttpStatusCode.Created or HttpStatusCode.Accepted
            || (a.Status == HttpStatusCode.Conflict && a.Body.GetProperty("code").GetString() == "campaign_in_progress"), $"answered {a.Status}"));
        Assert.Contains(answers, a => a.Status == HttpStatusCode.Created);
        Assert.Single(answers.Where(a => a.Status != HttpStatusCode.Conflict).Select(a => a.Body.GetProperty("id").GetInt64()).Distinct());
        Assert.Single(Creates);
        Assert.Equal(1L, await CampaignsAsync());
    }

    [Fact]
    public async Task A_single_code_Shopify_failed_to_create_is_accepted_and_finished_in_the_background_after_looking_it_up()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreateStatus(Shop, 503);

        var (status, view) = await CreateAsync(new { title = "Lost", fixedAmount = 5, code = "LOST5" }, "key-4");

        Assert.Equal((HttpStatusCode.Accepted, "creating"), (status, view.GetProperty("state").GetString()));
        var id = view.GetProperty("id").GetInt64();
        Assert.Contains(id, WaitingJobs());

        // The create had in fact been applied: Shopify has the code, with our campaign's title.
        ShopifyIsBack(found: "gid://shopify/DiscountCodeNode/70", foundTitle: $"Lost (campaign {id})");
        await App.Services.GetRequiredService<CampaignGeneration>().GenerateAsync(id, default);

        var done = await SendAsync(HttpMethod.Get, $"/api/admin/campaigns/{id}");
        Assert.Equal(("active", 1), (done.Body.GetProperty("state").GetString(), done.Body.GetProperty("createdCodes").GetInt32()));
        Assert.Single(Creates); // only the one whose answer was lost: nothing created a second time
        Assert.Equal("gid://shopify/DiscountCodeNode/70", await App.ScalarAsync<string>("SELECT discount_id FROM campaigns WHERE id = @id",
            new { id }));
    }

    [Fact]
    public async Task A_resent_post_resumes_a_campaign_Shopify_could_not_create()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreateStatus(Shop, 502);
        var body = new { title = "Resent", percentage = 15, code = "RESENT15" };
        var first = await CreateAsync(body, "key-5");
        Assert.Equal(HttpStatusCode.Accepted, first.Status);

        ShopifyIsBack();
        var again = await CreateAsync(body, "key-5");

        Assert.Equal((HttpStatusCode.Created, "active"), (again.Status, again.Body.GetProperty("state").GetString()));
        Assert.Equal(first.Body.GetProperty("id").GetInt64(), again.Body.GetProperty("id").GetInt64());
        Assert.Equal(2, Creates.Count); // the failed one, then one that worked
        Assert.Equal(1L, await CampaignsAsync());
    }

    [Fact]
    public async Task A_refusal_in_the_background_fails_the_campaign_with_the_reason_and_frees_its_code()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreateStatus(Shop, 503);
        var id = (await CreateAsync(new { title = "Refused", fixedAmount = 5, code = "FREE5" }, "key-6")).Body.GetProperty("id").GetInt64();

        Shopify.ResetMappings(Shop);
        Shopify.StubTokenExchange(Shop);
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreateUserError(Shop, "INVALID", "Minimum subtotal is too high");
        await App.Services.GetRequiredService<CampaignGeneration>().GenerateAsync(id, default);

        var failed = (await SendAsync(HttpMethod.Get, $"/api/admin/campaigns/{id}")).Body;
        Assert.Equal("failed", failed.GetProperty("state").GetString());
        Assert.Contains("Minimum subtotal is too high", failed.GetProperty("lastError").GetString());
        ShopifyIsBack();
        var other = await CreateAsync(new { title = "Other", fixedAmount = 5, code = "free5" }, "key-6b");
        Assert.Equal(HttpStatusCode.Created, other.Status);
    }

    [Fact]
    public async Task A_campaign_Shopify_refused_can_be_retried_once_Shopify_accepts_it()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreateUserError(Shop, "INVALID", "Discounts are paused on this shop");
        var refused = await CreateAsync(new { title = "Retry", fixedAmount = 5, code = "RETRY5" }, "key-7");
        Assert.Equal(HttpStatusCode.BadGateway, refused.Status);
        var id = await App.ScalarAsync<long>("SELECT id FROM campaigns WHERE shop_domain = @shop", new { shop = Shop });

        ShopifyIsBack();
        var retried = await SendAsync(HttpMethod.Post, $"/api/admin/campaigns/{id}/retry");

        Assert.Equal((HttpStatusCode.OK, "active"), (retried.Status, retried.Body.GetProperty("state").GetString()));
        Assert.Equal("created", await App.ScalarAsync<string>("SELECT state FROM campaign_codes WHERE campaign_id = @id", new { id }));
        Assert.Equal(2, Creates.Count); // refused, then accepted
    }

    [Fact]
    public async Task Deactivating_a_campaign_stuck_in_creating_frees_its_code_when_Shopify_does_not_have_it()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreateStatus(Shop, 503);
        var id = (await CreateAsync(new { title = "Stuck", fixedAmount = 5, code = "STUCK5" }, "key-8")).Body.GetProperty("id").GetInt64();

        var deactivated = await SendAsync(HttpMethod.Delete, $"/api/admin/campaigns/{id}");

        Assert.Equal((HttpStatusCode.OK, "deactivated"), (deactivated.Status, deactivated.Body.GetProperty("state").GetString()));
        Assert.Empty(Shopify.OperationBodies(Shop, "DeactivateCampaign"));
        ShopifyIsBack();
        var reused = await CreateAsync(new { title = "Unstuck", fixedAmount = 5, code = "STUCK5" }, "key-9");
        Assert.Equal(HttpStatusCode.Created, reused.Status);
        await App.Services.GetRequiredService<CampaignGeneration>().GenerateAsync(id, default); // a late job leaves it alone
        Assert.Equal("deactivated", await App.ScalarAsync<string>("SELECT state FROM campaigns WHERE id = @id", new { id }));
        Assert.Equal(2, Creates.Count); // the stuck one's, and the new campaign's
    }

    [Fact]
    public async Task Deactivating_a_creating_campaign_Shopify_did_create_deactivates_it_there_and_keeps_the_code()
    {
        Shopify.StubFindCode(Shop, null);
        Shopify.StubDiscountCreateStatus(Shop, 503);
        var id = (await CreateAsync(new { title = "Held", fixedAmount = 5, code = "HELD5" }, "key-10")).Body.GetProperty("id").GetInt64();
        ShopifyIsBack(found: "gid://shopify/DiscountCodeNode/74", foundTitle: $"Held (campaign {id})");
        Shopify.Server.Given(Request.Create().WithPath(ShopifyFake.GraphQLPath(Shop)).UsingPost().WithBody(
            new WildcardMatcher("*DeactivateCampaign*")))
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(
                new { data = new { discountCodeDeactivate = new { codeDiscountNode = new { id = "x" }, userErrors = Array.Empty<object>() } } }));

        var deactivated = await SendAsync(HttpMethod.Delete, $"/api/admin/campaigns/{id}");

        Assert.Equal((HttpStatusCode.OK, "deactivated"), (deactivated.Status, deactivated.Body.GetProperty("state").GetString()));
        Assert.Contains("gid://shopify/DiscountCodeNode/74", Assert.Single(Shopify.OperationBodies(Shop, "DeactivateCampaign")));
        var reused = await CreateAsync(new { title = "Again", fixedAmount = 5, code = "HELD5" }, "key-11");
        Assert.Equal((HttpStatusCode.UnprocessableEntity, "code_taken"), (reused.Status, reused.Body.GetProperty("code").GetString()));
    }
}
