namespace Loyalty.Tests.Features.Campaigns;

/// <summary>What campaign tests ask of the admin API.</summary>
internal static class CampaignRequests
{
    /// <summary>Creates a one-code campaign as the merchant's admin does (with an Idempotency-Key); it must answer 201. Its id.</summary>
    public static async Task<long> CreateCampaignAsync(this LoyaltyApp app, string shop, object body)
    {
        using var request = app.Admin(HttpMethod.Post, "/api/admin/campaigns", shop, JsonContent.Create(body));
        request.Headers.Add("Idempotency-Key", Guid.NewGuid().ToString());
        using var response = await app.Http.SendAsync(request);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetInt64();
    }
}
