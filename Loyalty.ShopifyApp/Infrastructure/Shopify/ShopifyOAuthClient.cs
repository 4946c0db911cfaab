using System.Net;
using System.Text.Json.Serialization;

namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

public sealed record OAuthTokenResponse(
    [property: JsonPropertyName("access_token")] string AccessToken,
    [property: JsonPropertyName("scope")] string? Scope,
    [property: JsonPropertyName("expires_in")] int? ExpiresIn,
    [property: JsonPropertyName("refresh_token")] string? RefreshToken,
    [property: JsonPropertyName("refresh_token_expires_in")] int? RefreshTokenExpiresIn);

/// <summary>Shopify refused the grant (bad session token, used code, expired refresh token): retrying will not help.</summary>
public sealed class ShopifyGrantRejectedException(HttpStatusCode status, string? error)
    : Exception($"Shopify rejected the token request with {(int)status} ({error ?? "no error code"}).")
{
    public HttpStatusCode Status { get; } = status;
    public string? Error { get; } = error;
}

/// <summary>Shopify could not be reached or failed (5xx, timeout): the request may be tried again later.</summary>
public class ShopifyUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Calls <c>POST {shop}/admin/oauth/access_token</c> for the three grants the app uses. Always asks for
/// expiring offline tokens (<c>expiring=1</c>), required of public apps created after 2026-04-01.
/// </summary>
public sealed class ShopifyOAuthClient(HttpClient http, IOptions<ShopifyOptions> options)
{
    private readonly ShopifyOptions _options = options.Value;

    public Task<OAuthTokenResponse> ExchangeSessionTokenAsync(string shop, string sessionToken, CancellationToken ct) =>
        PostAsync(shop, new Dictionary<string, string>
        {
            ["client_id"] = _options.ApiKey,
            ["client_secret"] = _options.ApiSecret,
            ["grant_type"] = "urn:ietf:params:oauth:grant-type:token-exchange",
            ["subject_token"] = sessionToken,
            ["subject_token_type"] = "urn:ietf:params:oauth:token-type:id_token",
            ["requested_token_type"] = "urn:shopify:params:oauth:token-type:offline-access-token",
            ["expiring"] = "1",
        }, ct);

    public Task<OAuthTokenResponse> ExchangeAuthorizationCodeAsync(string shop, string code, CancellationToken ct) =>
        PostAsync(shop, new Dictionary<string, string>
        {
            ["client_id"] = _options.ApiKey,
            ["client_secret"] = _options.ApiSecret,
            ["code"] = code,
            ["expiring"] = "1",
        }, ct);

    public Task<OAuthTokenResponse> RefreshAsync(string shop, string refreshToken, CancellationToken ct) =>
        PostAsync(shop, new Dictionary<string, string>
        {
            ["client_id"] = _options.ApiKey,
            ["client_secret"] = _options.ApiSecret,
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refreshToken,
        }, ct);

    private async Task<OAuthTokenResponse> PostAsync(string shop, Dictionary<string, string> form, CancellationToken ct)
    {
        var url = $"{_options.ShopBaseUrl(shop)}/admin/oauth/access_token";
        HttpResponseMessage response;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new FormUrlEncodedContent(form) };
            request.Headers.Accept.ParseAdd("application/json");
            response = await http.SendAsync(request, ct);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
        {
            throw new ShopifyUnavailableException($"Shopify's token endpoint for {shop} could not be reached.", e);
        }

        using (response)
        {
            if (response.IsSuccessStatusCode)
            {
                var token = await response.Content.ReadFromJsonAsync<OAuthTokenResponse>(ct);
                if (token is null || string.IsNullOrEmpty(token.AccessToken))
                {
                    throw new ShopifyUnavailableException($"Shopify's token endpoint for {shop} answered without an access token.");
                }
                return token;
            }

            // Only 400/401 mean "this grant is refused" (a caller may then discard a token); anything else
            // unexpected is treated as an outage so that no good token is ever thrown away over it.
            if (response.StatusCode is not (HttpStatusCode.BadRequest or HttpStatusCode.Unauthorized))
            {
                throw new ShopifyUnavailableException($"Shopify's token endpoint for {shop} answered {(int)response.StatusCode}.");
            }

            string? error = null;
            try
            {
                var body = await response.Content.ReadFromJsonAsync<Dictionary<string, object>>(ct);
                error = body?.GetValueOrDefault("error")?.ToString();
            }
            catch (System.Text.Json.JsonException)
            {
                // Not JSON: the status alone says enough.
            }
            throw new ShopifyGrantRejectedException(response.StatusCode, error);
        }
    }
}
