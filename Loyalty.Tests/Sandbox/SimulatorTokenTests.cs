using Loyalty.Sandbox;

namespace Loyalty.Tests.Sandbox;

/// <summary>
/// The Shopify simulator's record of a shop's tokens, which the many-shops bench judges token refresh by: a shop whose access token
/// expired before the next one was issued has lapsed, however the app found out.
/// </summary>
public sealed class SimulatorTokenTests : IAsyncLifetime
{
    private const string Shop = "tokens-shop.myshopify.com";
    private ShopifySimulator _shopify = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync() => _shopify = await ShopifySimulator.StartAsync(LoyaltyApp.ApiKey, LoyaltyApp.Secret, seed: 4);

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _shopify.DisposeAsync();
    }

    private async Task<string> GrantAsync(Dictionary<string, string> form) =>
        (await GrantAnswerAsync(form)).GetProperty("refresh_token").GetString()!;

    private async Task<JsonElement> GrantAnswerAsync(Dictionary<string, string> form, string shop = Shop)
    {
        form["client_id"] = LoyaltyApp.ApiKey;
        form["client_secret"] = LoyaltyApp.Secret;
        using var response = await _http.PostAsync(new Uri(_shopify.BaseUrl, $"/{shop}/admin/oauth/access_token"), new FormUrlEncodedContent(form));
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    [Fact]
    public async Task First_tokens_live_anywhere_between_the_minimum_and_the_full_life_and_refreshed_ones_the_full_life()
    {
        _shopify.AccessTokenSeconds = 3600;
        _shopify.FirstTokenMinSeconds = 600;
        var firsts = new List<int>();
        for (var i = 0; i < 20; i++) firsts.Add((await GrantAnswerAsync(new() { ["code"] = "install" }, $"fleet-{i}.myshopify.com")).GetProperty(
            "expires_in").GetInt32());
        var first = await GrantAnswerAsync(new() { ["code"] = "install" });
        var refreshed = await GrantAnswerAsync(new()
        {
            ["grant_type"] = "refresh_token", ["refresh_token"] = first.GetProperty("refresh_token").GetString()!,
        });

        Assert.All(firsts, life => Assert.InRange(life, 600, 3600));
        Assert.True(firsts.Distinct().Count() > 10, string.Join(", ", firsts)); // drawn, not one value
        Assert.Equal(3600, refreshed.GetProperty("expires_in").GetInt32());
    }

    [Fact]
    public async Task A_refresh_before_expiry_is_no_lapse_and_one_after_it_is()
    {
        _shopify.AccessTokenSeconds = 1;
        var refresh = await GrantAsync(new() { ["code"] = "install" });
        refresh = await GrantAsync(new() { ["grant_type"] = "refresh_token", ["refresh_token"] = refresh }); // at once: in time
        var inTime = _shopify.Traffic()[Shop];
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var atEnd = _shopify.Traffic()[Shop];
        await GrantAsync(new() { ["grant_type"] = "refresh_token", ["refresh_token"] = refresh }); // its access token has expired
        var late = _shopify.Traffic()[Shop];

        Assert.Equal((0L, 1), (inTime.TokenLapses, inTime.Refreshes.Count));
        Assert.True(atEnd.TokenValidUntil < DateTimeOffset.UtcNow, "the shop holds an expired token before the late refresh");
        Assert.Equal((1L, 2), (late.TokenLapses, late.Refreshes.Count));
        Assert.True(late.TokenValidUntil > DateTimeOffset.UtcNow);
    }
}
