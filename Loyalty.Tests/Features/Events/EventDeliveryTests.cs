using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography;
using Loyalty.ShopifyApp.Features.Events;
using WireMock.Server;

namespace Loyalty.Tests.Features.Events;

/// <summary>Signed events to the merchant's endpoint, at least once, with retries; failures visible and retryable.</summary>
public sealed class EventDeliveryTests(EventDeliveryTests.EventsApp app) : AppTests<EventDeliveryTests.EventsApp>(app)
{
    private const string Secret = "whsec_a_long_enough_secret";

    /// <summary>
    /// Delivery runs only when a test runs it. A run delivers every shop's due events: those of the tests before are all
    /// delivered or, their endpoint gone, fail again, so what a run counts is this test's.
    /// </summary>
    public sealed class EventsApp() : AppFixture(new()
    {
        ["Events:AllowInsecureEndpoints"] = "true",
        ["Events:RetryBaseDelaySeconds"] = "0",
        ["Events:MaxAttempts"] = "3",
        ["Jobs:Schedules:event-delivery"] = "",
    });

    /// <summary>The merchant's endpoint, this test's own.</summary>
    private WireMockServer _receiver = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _receiver = Fixture.NewServer();
    }

    private readonly List<LoyaltyApp> _otherApps = [];

    /// <summary>
    /// Another app, for a test that needs other settings than the class's (the delivery job is left to the test). Endpoints on
    /// loopback (Events:AllowInsecureEndpoints) are accepted in Development only.
    /// </summary>
    private async Task<LoyaltyApp> StartAppAsync(Dictionary<string, string?> settings, string environment = "Testing")
    {
        settings["Jobs:Schedules:event-delivery"] = "";
        settings["Events:RetryBaseDelaySeconds"] = "0";
        var app = await LoyaltyApp.StartAsync(Shopify, settings, environment: environment);
        _otherApps.Add(app);
        return app;
    }

    /// <summary>An endpoint that takes connections (the backlog) and never answers.</summary>
    private static TcpListener BlackHole()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return listener;
    }

    private static string Url(TcpListener listener) => $"http://127.0.0.1:{((IPEndPoint)listener.LocalEndpoint).Port}/hooks";

    private static Task<int> DeliverAsync(LoyaltyApp app) => app.Services.GetRequiredService<OutgoingEvents>().DeliverDueAsync(default);

    /// <summary>A shop of <paramref name="app"/> sending its events to <paramref name="url"/>.</summary>
    private async Task<string> ShopWithEndpointAsync(LoyaltyApp app, string url)
    {
        var shop = LoyaltyApp.NewShop();
        await app.InstallAsync(Shopify, shop);
        using var response = await app.Http.SendAsync(app.Admin(HttpMethod.Put, "/api/admin/event-endpoint", shop,
            JsonContent.Create(new { url, secret = Secret })));
        Assert.True(response.IsSuccessStatusCode, $"{(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
        return shop;
    }

    private Task<HttpResponseMessage> RegisterAsync(string? url, string secret = Secret) =>
        App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/event-endpoint", Shop, JsonContent.Create(new { url, secret })));

    private Task<int> DeliverAsync() => App.Services.GetRequiredService<OutgoingEvents>().DeliverDueAsync(default);

    private void ReceiverAnswers(int status) =>
        _receiver.Given(Request.Create().WithPath("/hooks").UsingPost()).RespondWith(Response.Create().WithStatusCode(status));

    [Fact]
    public async Task An_award_is_sent_as_a_signed_points_awarded_event_the_receiver_can_verify()
    {
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(_receiver.Url + "/hooks")).StatusCode);
        ReceiverAnswers(200);

        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(1001, 777, 120m, 130m));
        Assert.Equal(1, await DeliverAsync());

        var request = Assert.Single(_receiver.LogEntries).RequestMessage!;
        var body = request.Body!;
        var signature = request.Headers!["X-Loyalty-Signature"].Single();
        var t = signature.Split(',')[0][2..];
        var expected = Convert.ToHexStringLower(HMACSHA256.HashData(Encoding.UTF8.GetBytes(Secret), Encoding.UTF8.GetBytes($"{t}.{body}")));
        Assert.Equal($"t={t},v1={expected}", signature);
        var payload = JsonDocument.Parse(body).RootElement;
        Assert.Equal("points.awarded", payload.GetProperty("type").GetString());
        Assert.Equal(request.Headers["X-Loyalty-Event-Id"].Single(), payload.GetProperty("id").GetString());
        Assert.Equal((777L, 120L), (payload.GetProperty("data").GetProperty("customerId").GetInt64(),
            payload.GetProperty("data").GetProperty("points").GetInt64()));
        Assert.Equal(0, await DeliverAsync()); // delivered once
    }

    [Fact]
    public async Task A_campaign_code_and_a_loyalty_coupon_are_sent_as_coupon_created_and_a_code_used_in_an_order_as_coupon_redeemed()
    {
        Assert.Equal(HttpStatusCode.OK, (await RegisterAsync(_receiver.Url + "/hooks")).StatusCode);
        ReceiverAnswers(200);
        Shopify.StubDiscountCreate(Shop, "gid://shopify/DiscountCodeNode/77");
        Shopify.StubFindCode(Shop, null);
        Shopify.StubCouponsMetafield(Shop);
        Shopify.StubMetafieldsSet(Shop);

        // The merchant's campaign with one code, and a customer's loyalty coupon for 500 points.
        using var campaign = App.Admin(HttpMethod.Post, "/api/admin/campaigns", Shop,
            JsonContent.Create(new { title = "Spring", percentage = 10, code = "SPRING10" }));
        campaign.Headers.Add("Idempotency-Key", "spring");
        using (var created = await App.Http.SendAsync(campaign)) Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        using var bonus = App.Admin(HttpMethod.Post, "/api/admin/customers/777/points", Shop,
            JsonContent.Create(new { points = 500, description = "welcome" }));
        bonus.Headers.Add("Idempotency-Key", "welcome");
        (await App.Http.SendAsync(bonus)).EnsureSuccessStatusCode();
        using var convert = new HttpRequestMessage(HttpMethod.Post, LoyaltyApp.ProxyPath("/proxy/api/conversions", Shop, 777))
        {
            Content = JsonContent.Create(new { points = 500 }),
        };
        convert.Headers.Add("Idempotency-Key", "convert-500");
        using var converted = await App.ConversionSettledAsync(await App.Http.SendAsync(convert));
        Assert.Equal(HttpStatusCode.Created, converted.StatusCode);
        var code = (await converted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString();
        // Another customer pays with the campaign's code.
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(2001, 778, 100m, 90m, discountCodes: ["SPRING10"]));

        // A run another test enqueued (a retry) may hold the delivery lock meanwhile: its run delivers these, so wait for them.
        List<JsonElement> Sent() => [.. _receiver.LogEntries.Select(e => JsonDocument.Parse(e.RequestMessage!.Body!).RootElement)];
        await LoyaltyApp.WaitUntilAsync(async () =>
        {
            await DeliverAsync();
            var types = Sent().Select(e => e.GetProperty("type").GetString()).ToList();
            return types.Count(t => t == "coupon.created") == 2 && types.Contains("coupon.redeemed");
        }, "both coupon.created events and coupon.redeemed reach the receiver");

        var sent = Sent();
        var couponCreated = sent.Where(e => e.GetProperty("type").GetString() == "coupon.created")
            .Select(e => e.GetProperty("data")).ToDictionary(d => d.GetProperty("source").GetString()!);
        Assert.Equal(("Spring", 1L, "percentage", 10m), (couponCreated["campaign"].GetProperty("title").GetString(),
            couponCreated["campaign"].GetProperty("codes").GetInt64(), couponCreated["campaign"].GetProperty("discountType").GetString(),
            couponCreated["campaign"].GetProperty("value").GetDecimal()));
        Assert.Equal((code, 777L, 500m), (couponCreated["loyalty"].GetProperty("code").GetString(),
            couponCreated["loyalty"].GetProperty("customerId").GetInt64(), couponCreated["loyalty"].GetProperty("amount").GetDecimal()));
        var redeemed = Assert.Single(sent, e => e.GetProperty("type").GetString() == "coupon.redeemed").GetProperty("data");
        Assert.Equal(("SPRING10", 2001L, 778L, 5.00m, 90m), (redeemed.GetProperty("code").GetString(), redeemed.GetProperty("orderId").GetInt64(),
            redeemed.GetProperty("customerId").GetInt64(), redeemed.GetProperty("discountAmount").GetDecimal(),
            redeemed.GetProperty("orderAmount").GetDecimal()));
    }

    [Fact]
    public async Task A_failing_endpoint_is_retried_and_gets_the_event_once_it_recovers()
    {
        await RegisterAsync(_receiver.Url + "/hooks");
        ReceiverAnswers(500);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(1002, 777, 50m, 50m));

        await DeliverAsync();
        await DeliverAsync();
        _receiver.ResetMappings();
        ReceiverAnswers(204);
        await DeliverAsync();

        Assert.Equal(("delivered", 3), (await App.ScalarAsync<string>("SELECT state FROM outgoing_events WHERE shop_domain = @shop",
            new { shop = Shop }), await App.ScalarAsync<int>("SELECT attempts FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop })));
        Assert.Single(_receiver.LogEntries.Select(e => e.RequestMessage!.Headers!["X-Loyalty-Event-Id"].Single()).Distinct());
    }

    [Fact]
    public async Task An_event_that_keeps_failing_is_listed_for_the_merchant_and_can_be_sent_again()
    {
        await RegisterAsync(_receiver.Url + "/hooks");
        ReceiverAnswers(503);
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(1003, 777, 50m, 50m));
        for (var i = 0; i < 3; i++) await DeliverAsync();

        var failed = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/event-endpoint/events?state=failed", Shop)))
            .Content.ReadFromJsonAsync<JsonElement>();
        var item = Assert.Single(failed.EnumerateArray());
        Assert.Equal((503, "HTTP 503"), (item.GetProperty("lastStatus").GetInt32(), item.GetProperty("lastError").GetString()));

        _receiver.ResetMappings();
        ReceiverAnswers(200);
        var retry = await App.Http.SendAsync(App.Admin(HttpMethod.Post,
            $"/api/admin/event-endpoint/events/{item.GetProperty("id").GetString()}/retry", Shop));
        Assert.Equal(HttpStatusCode.NoContent, retry.StatusCode);
        await DeliverAsync();
        Assert.Equal("delivered", await App.ScalarAsync<string>("SELECT state FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop }));
    }

    [Fact]
    public async Task An_endpoint_answering_a_huge_body_is_a_failed_attempt_read_no_further_than_the_limit()
    {
        using var huge = new HugeAnswerServer(status: 200); // 100 MB, chunked, generated as it is sent
        await RegisterAsync(huge.Url + "/hooks");
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(1005, 777, 50m, 50m));
        var watch = System.Diagnostics.Stopwatch.StartNew();

        // This run makes the attempt, or a run the award's commit started first (it holds the run lock, and this one returns).
        string? lastError = null;
        while (lastError is null && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            Assert.Equal(0, await DeliverAsync());
            lastError = await App.ScalarAsync<string?>("SELECT last_error FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop });
            if (lastError is null) await Task.Delay(20);
        }

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.True(huge.BytesSent < 16 * 1024 * 1024, $"{huge.BytesSent} bytes were sent before the app hung up");
        Assert.Equal("pending", await App.ScalarAsync<string>("SELECT state FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop }));
        Assert.Contains("larger than 65536 bytes", lastError);
    }

    [Fact]
    public async Task One_shops_unanswering_endpoint_does_not_hold_back_another_shops_events()
    {
        var app = await StartAppAsync(new() { ["Events:AllowInsecureEndpoints"] = "true", ["Events:TimeoutSeconds"] = "1" },
            environment: "Development");
        using var blackHole = BlackHole();
        var slow = await ShopWithEndpointAsync(app, Url(blackHole));
        var other = await ShopWithEndpointAsync(app, _receiver.Url + "/hooks");
        ReceiverAnswers(200);
        for (var i = 0; i < 4; i++) await app.DeliverAsync("orders/paid", slow, ShopifyPayloads.Order(3001 + i, 777, 50m, 50m));
        await app.DeliverAsync("orders/paid", other, ShopifyPayloads.Order(4001, 888, 50m, 50m));

        var watch = Stopwatch.StartNew();
        var run = DeliverAsync(app);
        await LoyaltyApp.WaitUntilAsync(() => Task.FromResult(_receiver.LogEntries.Any()), "the other shop's event", 20_000);
        var waited = watch.Elapsed;
        await run;

        // Before, the other shop's event could wait behind every timeout of the first (4 x 1 s here, 50 x 10 s per batch by default).
        Assert.True(waited < TimeSpan.FromSeconds(2), $"the other shop's event waited {waited}");
    }

    [Fact]
    public async Task A_shop_gets_at_most_its_share_of_attempts_in_one_run()
    {
        var app = await StartAppAsync(new() { ["Events:AllowInsecureEndpoints"] = "true", ["Events:MaxPerShopPerRun"] = "2" },
            environment: "Development");
        ReceiverAnswers(500);
        var shop = await ShopWithEndpointAsync(app, _receiver.Url + "/hooks");
        for (var i = 0; i < 5; i++) await app.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(5001 + i, 777, 50m, 50m));

        await DeliverAsync(app);

        Assert.Equal(2, _receiver.LogEntries.Count);
        Assert.Equal(3L, await app.ScalarAsync<long>("SELECT count(*) FROM outgoing_events WHERE attempts = 0"));
    }

    [Fact]
    public async Task A_run_started_while_another_is_under_way_leaves_the_events_to_it()
    {
        var app = await StartAppAsync(new() { ["Events:AllowInsecureEndpoints"] = "true", ["Events:TimeoutSeconds"] = "2" },
            environment: "Development");
        using var blackHole = BlackHole();
        var slow = await ShopWithEndpointAsync(app, Url(blackHole));
        var other = await ShopWithEndpointAsync(app, _receiver.Url + "/hooks");
        ReceiverAnswers(200);
        await app.DeliverAsync("orders/paid", slow, ShopifyPayloads.Order(6001, 777, 50m, 50m));
        await app.DeliverAsync("orders/paid", other, ShopifyPayloads.Order(6002, 888, 50m, 50m));
        await app.ScalarAsync<int>("UPDATE outgoing_events SET next_attempt_at = now() + interval '1 hour' WHERE shop_domain = @other",
            new { other });

        var first = DeliverAsync(app); // busy with the unanswering endpoint for 2 s
        await Task.Delay(300);
        await app.ScalarAsync<int>("UPDATE outgoing_events SET next_attempt_at = now() WHERE shop_domain = @other", new { other });
        var second = await DeliverAsync(app);
        var overlapped = !first.IsCompleted;
        var byFirst = await first;

        Assert.True(overlapped, "the second run started after the first had finished");
        Assert.Equal((0, 1), (second, byFirst));
        Assert.Single(_receiver.LogEntries);
    }

    [Fact]
    public async Task A_run_starts_no_delivery_it_could_not_finish_in_time_and_hands_the_rest_back()
    {
        var app = await StartAppAsync(new()
        {
            ["Events:AllowInsecureEndpoints"] = "true", ["Events:TimeoutSeconds"] = "1", ["Events:Parallelism"] = "1", ["Events:MaxRunSeconds"] = "2",
        }, environment: "Development");
        using var blackHole = BlackHole();
        var shop = await ShopWithEndpointAsync(app, Url(blackHole));
        for (var i = 0; i < 5; i++) await app.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(7001 + i, 777, 50m, 50m));
        var watch = Stopwatch.StartNew();

        await DeliverAsync(app);

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(3.5), $"the run took {watch.Elapsed}");
        Assert.InRange(await app.ScalarAsync<long>("SELECT sum(attempts) FROM outgoing_events"), 1, 2);
        Assert.True(
            await app.ScalarAsync<long>(
            "SELECT count(*) FROM outgoing_events WHERE attempts = 0 AND state = 'pending' AND next_attempt_at <= now()") >= 3);
    }

    [Theory]
    [InlineData("Events:Parallelism", "0")]
    [InlineData("Events:MaxPerShopPerRun", "0")]
    [InlineData("Events:BatchSize", "0")]
    [InlineData("Events:MaxRunSeconds", "5")] // shorter than one attempt (TimeoutSeconds 10)
    public async Task Event_delivery_limits_out_of_range_stop_the_start(string setting, string value)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => LoyaltyApp.StartAsync(Shopify, new Dictionary<string,
            string?> { [setting] = value }));

        Assert.Contains(setting.Split(':')[1], error.ToString());
    }

    [Fact]
    public async Task A_failed_delivery_does_not_tell_the_merchant_what_an_internal_name_resolves_to()
    {
        // Production settings: https only, no private networks. The machine's own name stands for an internal DNS name
        // (a VPC private zone, a cluster service) that resolves to a private address.
        var app = await StartAppAsync(new Dictionary<string, string?>());
        var name = Dns.GetHostName();
        var addresses = (await Dns.GetHostAddressesAsync(name)).Select(a => a.ToString()).ToList();
        Assert.NotEmpty(addresses);
        var shop = await ShopWithEndpointAsync(app, $"https://{name}/hooks");
        await app.DeliverAsync("orders/paid", shop, ShopifyPayloads.Order(2001, 777, 50m, 50m));

        await app.Services.GetRequiredService<OutgoingEvents>().DeliverDueAsync(default);

        var events = await (await app.Http.SendAsync(app.Admin(HttpMethod.Get, "/api/admin/event-endpoint/events",
            shop))).Content.ReadFromJsonAsync<JsonElement>();
        var lastError = Assert.Single(events.EnumerateArray()).GetProperty("lastError").GetString() ?? "";
        Assert.All(addresses, a => Assert.DoesNotContain(a, lastError));
        // timed out: the name took longer to resolve than an attempt may
        Assert.Contains(lastError, new[] { "refused: address not allowed", "timed out" });
    }

    [Fact]
    public async Task An_event_endpoint_with_a_NUL_character_is_refused_with_a_field_error()
    {
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Put, "/api/admin/event-endpoint", Shop,
            new StringContent("""{"url":"https://example.com/ho\u0000oks","secret":"whsec_a_long_enough_secret"}""", Encoding.UTF8,
                "application/json")));

        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        Assert.True((await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").TryGetProperty("url", out _));
    }

    [Fact]
    public async Task No_endpoint_means_no_events_and_a_bad_endpoint_is_refused()
    {
        await App.DeliverAsync("orders/paid", Shop, ShopifyPayloads.Order(1004, 777, 50m, 50m));
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop }));

        var badUrl = await RegisterAsync("ftp://example.com/x");
        var shortSecret = await RegisterAsync(_receiver.Url + "/hooks", "short");
        Assert.Contains("invalid_event_endpoint", await badUrl.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.UnprocessableEntity, shortSecret.StatusCode);
        var view = await (await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/event-endpoint", Shop))).Content.ReadAsStringAsync();
        Assert.DoesNotContain("whsec", view);
    }
}
