namespace Loyalty.Tests.Features;

/// <summary>
/// No forged or malformed request to any entry point (<see cref="Forgeries"/>) is accepted or answered with a 5xx, and
/// none changes a row.
/// </summary>
public sealed class ForgedRequestTests(ForgedRequestTests.ForgeryApp app) : AppTests<ForgedRequestTests.ForgeryApp>(app)
{
    public sealed class ForgeryApp() : AppFixture(new()
    {
        ["Webhooks:MaxBodyBytes"] = "65536",
        // Thousands of storefront requests: each is answered by its checks, never by a rate limit.
        ["Storefront:CustomerRequestLimit"] = "1000000",
        ["Storefront:ShopRequestLimit"] = "1000000",
        ["Storefront:CustomerCodeCheckLimit"] = "1000000",
    });

    /// <summary>
    /// Every row a request could add, of every shop (a forgery may name another one). The tests of this class run one at a
    /// time and none of their requests is accepted, so nothing else writes while one runs.
    /// </summary>
    private const string State = "SELECT (SELECT count(*) FROM webhook_deliveries) + (SELECT count(*) FROM shops) + (SELECT count(*) FROM " +
        "shop_tokens) " +
                                 "+ (SELECT count(*) FROM point_transactions) + (SELECT count(*) FROM conversions) + (SELECT count(*) FROM " +
                                     "campaigns) " +
                                 "+ (SELECT count(*) FROM donations) + (SELECT count(*) FROM customer_feedback) + (SELECT count(*) FROM " +
                                     "shop_settings) " +
                                 "+ (SELECT count(*) FROM oauth_states)";

    /// <summary>Sends every request; returns how many went out and those answered with anything but a 4xx.</summary>
    private async Task<(int Sent, List<string> Failures)> SendAsync(IEnumerable<(string What, Func<HttpRequestMessage> Request)> requests)
    {
        var failures = new List<string>();
        var sent = 0;
        foreach (var (what, request) in requests)
        {
            using var response = await App.Http.SendAsync(request());
            sent++;
            if ((int)response.StatusCode is < 400 or >= 500) failures.Add($"{what}: {(int)response.StatusCode}");
        }
        return (sent, failures);
    }

    [Fact]
    public async Task Forged_and_malformed_requests_get_a_4xx_and_change_nothing()
    {
        var before = await App.ScalarAsync<long>(State);

        var (_, failures) = await SendAsync(Forgeries.Handwritten(App, Shop));

        Assert.Empty(failures);
        Assert.Equal(before, await App.ScalarAsync<long>(State));
    }

    [Fact]
    public async Task Over_five_thousand_generated_forgeries_across_every_entry_point_are_refused_with_a_4xx_and_change_nothing()
    {
        var before = await App.ScalarAsync<long>(State);

        var (sent, failures) = await SendAsync(Forgeries.Generated(new Random(20261202), Shop));

        Assert.True(sent >= 5000, $"only {sent} requests");
        Assert.Empty(failures.Take(20));
        Assert.Equal(before, await App.ScalarAsync<long>(State));
    }

    [Theory]
    [InlineData("/auth?shop={shop}%0A")]
    [InlineData("/auth?shop={shop}%0A&hmac=00")]
    [InlineData("/admin?shop={shop}%0A")]
    [InlineData("/admin?shop={shop}%0A&host=abc&embedded=1")]
    public async Task A_shop_ending_in_a_newline_gets_a_problem_not_a_500(string path)
    {
        using var response = await App.Http.GetAsync(path.Replace("{shop}", Shop, StringComparison.Ordinal));

        Assert.InRange((int)response.StatusCode, 400, 499);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(0L, await App.ScalarAsync<long>("SELECT count(*) FROM oauth_states WHERE shop_domain LIKE '%' || chr(10)"));
    }

    [Fact]
    public async Task Random_bytes_with_random_signatures_never_get_a_2xx_or_5xx()
    {
        var random = new Random(20261123); // fixed seed: the same inputs every run
        var failures = new List<string>();
        for (var i = 0; i < 200; i++)
        {
            var body = new byte[random.Next(0, 2048)];
            random.NextBytes(body);
            var request = new HttpRequestMessage(HttpMethod.Post, "/webhooks") { Content = new ByteArrayContent(body) };
            var sig = new byte[32];
            random.NextBytes(sig);
            request.Headers.Add("X-Shopify-Hmac-Sha256", Convert.ToBase64String(sig));
            request.Headers.Add("X-Shopify-Topic", "app/uninstalled");
            request.Headers.Add("X-Shopify-Shop-Domain", Shop);
            request.Headers.Add("X-Shopify-Webhook-Id", Guid.NewGuid().ToString());
            using var response = await App.Http.SendAsync(request);
            if ((int)response.StatusCode is < 400 or >= 500) failures.Add($"webhook #{i}: {(int)response.StatusCode}");

            var query = Convert.ToBase64String(body.Take(64).ToArray()).Replace("+", "%2B").Replace("/", "%2F");
            using var proxy = await App.Http.GetAsync(
                $"/proxy/api/session?shop={Shop}&timestamp={DateTimeOffset.UtcNow.ToUnixTimeSeconds()}&x={query}"
                + $"&signature={Convert.ToHexStringLower(sig)}");
            if ((int)proxy.StatusCode is < 400 or >= 500) failures.Add($"proxy #{i}: {(int)proxy.StatusCode}");
        }

        Assert.Empty(failures);
        Assert.Equal("installed", await App.ScalarAsync<string>("SELECT state FROM shops WHERE shop_domain = @shop", new { shop = Shop }));
    }
    [Fact]
    public async Task A_NUL_character_in_an_incident_resolution_is_refused_with_a_field_error()
    {
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Post, "/api/admin/coupon-incidents/1/resolve", Shop,
            new StringContent("""{"resolution":"done\u0000"}""", System.Text.Encoding.UTF8, "application/json")));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == System.Net.HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        Assert.Contains("\"resolution\"", body); // errors.resolution
    }

    [Fact]
    public async Task A_NUL_character_in_a_query_that_reaches_the_database_is_a_4xx_not_a_500()
    {
        // A field without a check of its own: the database refuses the NUL, and that is the client's mistake, not a 500.
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/event-endpoint/events?state=fail%00ed", Shop));
        var body = await response.Content.ReadAsStringAsync();

        Assert.True(response.StatusCode == System.Net.HttpStatusCode.UnprocessableEntity, $"{(int)response.StatusCode}: {body}");
        Assert.Contains("\"invalid_text\"", body);
    }
}
