using System.Net.Http.Json;
using System.Text.Json;

namespace Loyalty.Bench;

/// <summary>What <see cref="ConversionLoad"/> runs against: the app with the bench shop installed, or the floor.</summary>
public static partial class ConversionLoad
{
    private static async Task<AppInstance> StartAppAsync(BenchEnvironment env, Dictionary<string, string> traces, CancellationToken ct)
    {
        var app = await env.StartAppAsync(new Dictionary<string, string>(traces)
        {
            ["Jobs:Schedules:missed-orders-sweep"] = "",
            ["Shopify:GraphQLRetryBaseDelayMs"] = "200",
            // Thousands of customers of one shop converting at once: measure the app, not the storefront's rate limits.
            ["Storefront:CustomerRequestLimit"] = "10000000",
            ["Storefront:ShopRequestLimit"] = "10000000",
        }, ct);
        await BenchEnvironment.InstallShopAsync(app, new
        {
            balanceSource = "pos", posBaseUrl = env.Pos.BaseUrl.ToString(), posApiKey = env.Pos.ApiKey, pointValue = 0.01m,
            minConversion = 100, conversionStep = 100, dailyConversionLimit = 100_000_000,
        }, ct);
        return app;
    }

    /// <summary>The floor instead of the app, with a token of the bench shop from the simulator's code grant, as the app would hold one.</summary>
    private static async Task<AppInstance> StartFloorAsync(BenchEnvironment env, string floor, CancellationToken ct)
    {
        using var http = new HttpClient();
        using var grant = await http.PostAsync(new Uri(env.Shopify.BaseUrl, $"{BenchEnvironment.Shop}/admin/oauth/access_token"),
            new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["client_id"] = BenchEnvironment.ClientId, ["client_secret"] = BenchEnvironment.ClientSecret, ["code"] = "floor",
            }), ct);
        grant.EnsureSuccessStatusCode();
        var token = (await grant.Content.ReadFromJsonAsync<JsonElement>(ct)).GetProperty("access_token").GetString()!;
        var settings = new Dictionary<string, string>
        {
            ["Floor:Pos"] = env.Pos.BaseUrl.ToString().TrimEnd('/') + "/", ["Floor:PosKey"] = env.Pos.ApiKey,
            ["Floor:GraphQL"] = env.Shopify.AdminUrlTemplate.Replace("{shop}", BenchEnvironment.Shop, StringComparison.Ordinal)
                                + "/admin/api/2026-10/graphql.json",
            ["Floor:Token"] = token,
        };
        if (floor is "commits" or "minimal") settings["Floor:Commits"] = env.ConnectionString;
        if (floor == "minimal") settings["Floor:Minimal"] = "true";
        return await env.StartFloorAsync(settings, ct);
    }
}
