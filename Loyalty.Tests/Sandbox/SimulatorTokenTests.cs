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

    private async Task<string> GrantAsync(Dictionary<string, string> form)
    {
        form["client_id"] = LoyaltyApp.ApiKey;
        form["client_secret"] = LoyaltyApp.Secret;
        using var response = await _http.PostAsync(new Uri(_shopify.BaseUrl, $"/{Shop}/admin/oauth/access_token"), new FormUrlEncodedContent(form));
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("refresh_token").GetString()!;
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
