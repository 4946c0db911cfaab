using System.Net.Http.Headers;
using System.Text.RegularExpressions;

namespace Loyalty.Tests.Features.Admin;

/// <summary>
/// The Hangfire dashboard. The tests that log in as the operator share an app; those that lock an address out, or whose
/// app is configured otherwise, start their own (a lockout is the app's, in memory, and every test comes from 127.0.0.1).
/// </summary>
public sealed class JobsDashboardTests(JobsDashboardTests.DashboardApp dashboard) : IClassFixture<JobsDashboardTests.DashboardApp>
{
    private const string Password = "a-long-operator-password";

    /// <summary>The operator's credentials configured; fewer failed logins among its tests than lock the address out.</summary>
    public sealed class DashboardApp() : AppFixture(Credentials());

    private static Dictionary<string, string?> Credentials(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?> { ["Jobs:DashboardUser"] = "ops", ["Jobs:DashboardPassword"] = Password };
        foreach (var (k, v) in more ?? []) settings[k] = v;
        return settings;
    }

    private LoyaltyApp App => dashboard.App;

    [Fact]
    public async Task The_jobs_dashboard_refuses_everyone_when_no_credentials_are_configured()
    {
        await using var fixture = await AppFixture.StartAsync();
        var app = fixture.App;

        var response = await app.Http.GetAsync("/hangfire");

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task The_jobs_dashboard_opens_only_with_the_configured_credentials()
    {
        var wrong = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:guess")));
        var right = new HttpRequestMessage(HttpMethod.Get, "/hangfire");
        right.Headers.Authorization = new AuthenticationHeaderValue("Basic",
            Convert.ToBase64String(Encoding.UTF8.GetBytes("ops:a-long-operator-password")));

        var refused = await App.Http.SendAsync(wrong);
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("Basic", refused.Headers.WwwAuthenticate.ToString());
        Assert.Equal(HttpStatusCode.OK, (await App.Http.SendAsync(right)).StatusCode);
    }

    private static HttpRequestMessage Dashboard(HttpMethod method, string path, string password = Password)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"ops:{password}")));
        return request;
    }

    private static HttpRequestMessage Trigger(string? cookie = null, string? token = null)
    {
        var request = Dashboard(HttpMethod.Post, "/hangfire/recurring/trigger");
        request.Content = new FormUrlEncodedContent([new("jobs[]", "pos-sync")]);
        if (cookie is not null) request.Headers.Add("Cookie", cookie);
        if (token is not null) request.Headers.Add("RequestVerificationToken", token);
        return request;
    }

    [Fact]
    public async Task A_cross_origin_post_with_the_operators_credentials_triggers_nothing()
    {
        var fromOrigin = Trigger();
        fromOrigin.Headers.Add("Origin", "https://evil.example");
        var fromSite = Trigger();
        fromSite.Headers.Add("Sec-Fetch-Site", "cross-site");
        var withoutToken = Trigger();

        Assert.Equal(HttpStatusCode.Forbidden, (await App.Http.SendAsync(fromOrigin)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Http.SendAsync(fromSite)).StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, (await App.Http.SendAsync(withoutToken)).StatusCode); // no antiforgery token
    }

    [Fact]
    public async Task The_dashboards_own_page_can_still_trigger_a_job_with_its_antiforgery_token()
    {
        var page = await App.Http.SendAsync(Dashboard(HttpMethod.Get, "/hangfire/recurring"));
        var html = await page.Content.ReadAsStringAsync();
        var token = Regex.Match(html, "<meta name=\"csrf-token\" content=\"([^\"]+)\"").Groups[1].Value;
        var cookie = page.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("loyalty-jobs-antiforgery=", StringComparison.Ordinal)).Split(
            ';')[0];
        var sameOrigin = Trigger(cookie, token);
        sameOrigin.Headers.Add("Origin", App.Http.BaseAddress!.GetLeftPart(UriPartial.Authority));
        sameOrigin.Headers.Add("Sec-Fetch-Site", "same-origin");

        Assert.NotEmpty(token);
        Assert.Equal(HttpStatusCode.NoContent, (await App.Http.SendAsync(sameOrigin)).StatusCode);
    }

    [Fact]
    public async Task The_dashboards_pages_may_not_be_framed()
    {
        var page = await App.Http.SendAsync(Dashboard(HttpMethod.Get, "/hangfire"));
        var refused = await App.Http.GetAsync("/hangfire");

        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        foreach (var response in new[] { page, refused })
        {
            Assert.Equal("DENY", string.Join(",", response.Headers.GetValues("X-Frame-Options")));
            Assert.Contains("frame-ancestors 'none'", string.Join(",", response.Headers.GetValues("Content-Security-Policy")));
        }
    }

    [Fact]
    public async Task Repeated_failed_logins_lock_the_address_out_even_for_the_right_password()
    {
        await using var fixture = await AppFixture.StartAsync(Credentials(new()
        {
            ["Jobs:DashboardMaxFailedLogins"] = "3",
            ["Jobs:DashboardLockoutSeconds"] = "60",
        }));
        var app = fixture.App;

        var failures = new List<HttpStatusCode>();
        for (var i = 0; i < 3; i++) failures.Add((await app.Http.SendAsync(Dashboard(HttpMethod.Get, "/hangfire", $"guess-{i}"))).StatusCode);
        var locked = await app.Http.SendAsync(Dashboard(HttpMethod.Get, "/hangfire"));

        Assert.All(failures, status => Assert.Equal(HttpStatusCode.Unauthorized, status));
        Assert.Equal(HttpStatusCode.TooManyRequests, locked.StatusCode);
        Assert.InRange(locked.Headers.RetryAfter!.Delta!.Value.TotalSeconds, 1, 60);
        Assert.Contains("dashboard_locked_out", await locked.Content.ReadAsStringAsync());
    }
    private static async Task<HttpStatusCode> FromClientAsync(LoyaltyApp app, string client, string password)
    {
        var request = Dashboard(HttpMethod.Get, "/hangfire", password);
        request.Headers.Add("X-Forwarded-For", client);
        return (await app.Http.SendAsync(request)).StatusCode;
    }

    [Fact]
    public async Task Behind_a_trusted_proxy_one_clients_failed_logins_lock_out_that_client_only()
    {
        await using var fixture = await AppFixture.StartAsync(Credentials(new()
        {
            ["Jobs:DashboardMaxFailedLogins"] = "3",
            ["Http:TrustedProxies:0"] = "127.0.0.0/8",
            ["Http:TrustedProxies:1"] = "::1",
        }));
        var app = fixture.App;

        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.Unauthorized, await FromClientAsync(app, "203.0.113.7", $"guess-{i}"));

        Assert.Equal(HttpStatusCode.TooManyRequests, await FromClientAsync(app, "203.0.113.7", Password));
        Assert.Equal(HttpStatusCode.OK, await FromClientAsync(app, "198.51.100.9", Password)); // the operator behind the same proxy
    }

    [Fact]
    public async Task Without_a_trusted_proxy_a_client_cannot_escape_its_lockout_by_naming_another_address()
    {
        await using var fixture = await AppFixture.StartAsync(Credentials(new() { ["Jobs:DashboardMaxFailedLogins"] = "3" }));
        var app = fixture.App;

        for (var i = 0; i < 3; i++) Assert.Equal(HttpStatusCode.Unauthorized, await FromClientAsync(app, $"203.0.113.{i}", $"guess-{i}"));

        Assert.Equal(HttpStatusCode.TooManyRequests, await FromClientAsync(app, "198.51.100.9", Password));
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("proxy.internal")]
    [InlineData("10.0.0.1, 10.0.0.2")]
    public async Task A_trusted_proxy_that_is_not_an_address_or_network_stops_the_start(string entry)
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(() => AppFixture.StartAsync(new() { ["Http:TrustedProxies:0"] = entry }));

        Assert.Contains("TrustedProxies", error.ToString());
    }

    [Theory]
    [InlineData("0.0.0.0/0")]
    [InlineData("::/0")]
    [InlineData("10.0.0.0/7")]
    [InlineData("2001:db8::/31")]
    [InlineData("::ffff:0:0/96")] // every IPv4 client, as a dual-stack listener sees them
    [InlineData("::/64")] // holds ::ffff:0:0/96 too
    public async Task A_trusted_proxy_network_broader_than_a_proxy_could_be_stops_the_start(string entry)
    {
        using var shopify = new ShopifyFake();

        var error = await Assert.ThrowsAnyAsync<Exception>(() => LoyaltyApp.StartAsync(shopify, new Dictionary<string,
            string?> { ["Http:TrustedProxies:0"] = entry }));

        Assert.Contains($"'{entry}' is too broad", error.ToString());
    }
}
