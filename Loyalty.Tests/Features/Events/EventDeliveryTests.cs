using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Loyalty.ShopifyApp.Features.Events;
using Loyalty.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using WireMock.RequestBuilders;
using WireMock.ResponseBuilders;
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
        Assert.Equal((777L, 120L), (payload.GetProperty("data").GetProperty("customerId").GetInt64(), payload.GetProperty("data").GetProperty("points").GetInt64()));
        Assert.Equal(0, await DeliverAsync()); // delivered once
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

        Assert.Equal(("delivered", 3), (await App.ScalarAsync<string>("SELECT state FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop }), await App.ScalarAsync<int>("SELECT attempts FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop })));
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
        var retry = await App.Http.SendAsync(App.Admin(HttpMethod.Post, $"/api/admin/event-endpoint/events/{item.GetProperty("id").GetString()}/retry", Shop));
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

        Assert.Equal(0, await DeliverAsync());

        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"took {watch.Elapsed}");
        Assert.True(huge.BytesSent < 16 * 1024 * 1024, $"{huge.BytesSent} bytes were sent before the app hung up");
        Assert.Equal("pending", await App.ScalarAsync<string>("SELECT state FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop }));
        Assert.Contains("larger than 65536 bytes", await App.ScalarAsync<string>("SELECT last_error FROM outgoing_events WHERE shop_domain = @shop", new { shop = Shop }));
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
