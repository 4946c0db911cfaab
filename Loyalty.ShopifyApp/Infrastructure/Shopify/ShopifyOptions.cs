namespace Loyalty.ShopifyApp.Infrastructure.Shopify;

/// <summary>The app's Shopify identity and the knobs of the trust boundary. Section <c>Shopify</c>.</summary>
public sealed class ShopifyOptions
{
    public const string Section = "Shopify";

    /// <summary>The app's client id (API key). Also the <c>aud</c> of session tokens.</summary>
    public string ApiKey { get; set; } = "";

    /// <summary>The app's client secret: signs webhooks, app proxy requests, OAuth queries and session tokens.</summary>
    public string ApiSecret { get; set; } = "";

    /// <summary>The previous client secret while a rotation is under way; accepted everywhere a signature is checked.</summary>
    public string? PreviousApiSecret { get; set; }

    public string Scopes { get; set; } = "read_orders,write_customers,write_discounts,write_app_proxy";

    /// <summary>Public base URL of this app (the <c>application_url</c>), e.g. https://loyalty.example.com.</summary>
    public string AppUrl { get; set; } = "";

    /// <summary>Base URL of every per-shop Shopify call (OAuth and Admin API); <c>{shop}</c> is replaced by the shop domain.</summary>
    public string AdminUrlTemplate { get; set; } = "https://{shop}";

    /// <summary>Admin API version for GraphQL calls.</summary>
    public string ApiVersion { get; set; } = "2026-10";

    /// <summary>How far a signed <c>timestamp</c> (OAuth callback, app proxy) may be from now.</summary>
    public int SignatureMaxAgeSeconds { get; set; } = 90;

    /// <summary>Clock skew allowed on session token <c>exp</c>/<c>nbf</c>. Shopify's libraries use 10 s.</summary>
    public int SessionTokenClockSkewSeconds { get; set; } = 10;

    /// <summary>An expiring access token is refreshed when less than this remains.</summary>
    public int RefreshBeforeExpirySeconds { get; set; } = 300;

    /// <summary>How long a process keeps an access token it read (<see cref="AccessTokenCache"/>); 0 reads it for every call.</summary>
    public int AccessTokenCacheSeconds { get; set; } = 5;

    /// <summary>Timeout of one call to Shopify's OAuth endpoints.</summary>
    public int OAuthTimeoutSeconds { get; set; } = 10;

    /// <summary>Attempts per GraphQL call for transient failures (network, 5xx on queries, 429).</summary>
    public int GraphQLMaxAttempts { get; set; } = 4;

    /// <summary>How many THROTTLED answers one GraphQL call waits out before giving up.</summary>
    public int GraphQLMaxThrottleWaits { get; set; } = 20;

    /// <summary>
    /// The longest a GraphQL call waits for Shopify's cost bucket (as the last responses described it) before it is
    /// sent. A call that would wait longer is not sent and fails with <see cref="ShopifyThrottledException"/>.
    /// Background work uses this; a customer's conversion request passes its own, shorter limit.
    /// </summary>
    public double ThrottleMaxWaitSeconds { get; set; } = 60;

    /// <summary>
    /// How much earlier than its send a caller's record that it sends (a coupon's <c>coupon_requested_at</c>, a list write's mark) may
    /// be, when it is written beside the cost bucket's reservation instead of after it: a reservation that takes longer (a slow
    /// database, a wait the bucket asks for) is followed by the record again, right before the send. 0: always after the reservation.
    /// </summary>
    public int SendRecordSlackMs { get; set; } = 250;

    /// <summary>First back-off delay between GraphQL retries; doubles each attempt.</summary>
    public int GraphQLRetryBaseDelayMs { get; set; } = 250;

    /// <summary>Timeout of one GraphQL HTTP call.</summary>
    public int GraphQLTimeoutSeconds { get; set; } = 20;

    /// <summary>
    /// The most of one Shopify answer (GraphQL, OAuth) that is read: 8 MiB, far above any page the app asks for. A longer
    /// answer fails the call like a network error instead of growing the shared instance's memory.
    /// </summary>
    public int MaxResponseBytes { get; set; } = 8 * 1024 * 1024;

    /// <summary>True when no credentials were configured and the app runs against local simulators only.</summary>
    public bool Sandbox { get; set; }

    public IEnumerable<string> Secrets()
    {
        yield return ApiSecret;
        if (!string.IsNullOrEmpty(PreviousApiSecret)) yield return PreviousApiSecret;
    }

    /// <summary>Base URL for calls about <paramref name="shop"/>, without a trailing slash.</summary>
    public string ShopBaseUrl(string shop) => AdminUrlTemplate.Replace("{shop}", shop, StringComparison.Ordinal).TrimEnd('/');
}

public sealed class ShopifyOptionsValidator : IValidateOptions<ShopifyOptions>
{
    public ValidateOptionsResult Validate(string? name, ShopifyOptions o)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(o.ApiKey))
            errors.Add("Shopify:ApiKey is missing: set SHOPIFY_API_KEY (or Shopify__ApiKey) to the app's client id.");
        if (string.IsNullOrWhiteSpace(o.ApiSecret))
            errors.Add("Shopify:ApiSecret is missing: set SHOPIFY_API_SECRET (or Shopify__ApiSecret) to the app's client secret.");
        else if (System.Text.Encoding.UTF8.GetByteCount(o.ApiSecret) < 32)
            errors.Add(
                "Shopify:ApiSecret is shorter than 32 bytes, so session tokens (HS256) cannot be verified with it; Shopify client secrets are " +
                "longer, check the value.");
        if (string.IsNullOrWhiteSpace(o.AppUrl) || !Uri.TryCreate(o.AppUrl, UriKind.Absolute, out _))
            errors.Add("Shopify:AppUrl is missing or not an absolute URL: set SHOPIFY_APP_URL (or Shopify__AppUrl) to the app's public https URL.");
        if (string.IsNullOrWhiteSpace(o.Scopes))
            errors.Add("Shopify:Scopes is empty: set SCOPES (or Shopify__Scopes), e.g. read_orders,write_customers,write_discounts,write_app_proxy.");
        if (!o.AdminUrlTemplate.Contains("{shop}", StringComparison.Ordinal) && !o.Sandbox)
            errors.Add("Shopify:AdminUrlTemplate must contain {shop}, e.g. https://{shop}.");
        if (!Uri.TryCreate(o.ShopBaseUrl("probe.myshopify.com"), UriKind.Absolute, out _))
            errors.Add("Shopify:AdminUrlTemplate does not form an absolute URL.");
        if (!System.Text.RegularExpressions.Regex.IsMatch(o.ApiVersion, @"^([0-9]{4}-[0-9]{2}|unstable)\z"))
            errors.Add("Shopify:ApiVersion must look like 2026-10.");
        if (o.SignatureMaxAgeSeconds is < 1 or > 3600)
            errors.Add("Shopify:SignatureMaxAgeSeconds must be between 1 and 3600.");
        if (o.SessionTokenClockSkewSeconds is < 0 or > 60)
            errors.Add("Shopify:SessionTokenClockSkewSeconds must be between 0 and 60.");
        if (o.ThrottleMaxWaitSeconds is < 0 or > 600)
            errors.Add("Shopify:ThrottleMaxWaitSeconds must be between 0 and 600.");
        if (o.SendRecordSlackMs is < 0 or > 5000)
            errors.Add("Shopify:SendRecordSlackMs must be between 0 and 5000 (milliseconds).");
        if (o.MaxResponseBytes is < 64 * 1024 or > 256 * 1024 * 1024)
            errors.Add("Shopify:MaxResponseBytes must be between 65536 and 268435456.");
        if (o.RefreshBeforeExpirySeconds is < 0 or > 3000)
            errors.Add("Shopify:RefreshBeforeExpirySeconds must be between 0 and 3000.");
        if (o.AccessTokenCacheSeconds is < 0 or > 60)
            errors.Add("Shopify:AccessTokenCacheSeconds must be between 0 and 60.");
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
