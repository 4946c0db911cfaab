using WireMock;
using WireMock.Extensions;
using WireMock.Logging;
using WireMock.Matchers;
using WireMock.Matchers.Request;
using WireMock.Server;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// Shopify on a real local socket (WireMock.Net). The app's AdminUrlTemplate points at
/// <c>{Url}/{shop}</c>, so every call's path names its shop and the journal can be read per shop.
/// </summary>
public sealed class ShopifyFake : IDisposable
{
    public WireMockServer Server { get; } = WireMockServer.Start();

    public string UrlTemplate => Server.Url + "/{shop}";

    public const string ApiVersion = "2026-10";

    public void StubTokenExchange(string shop, string accessToken = "shpat_exchanged", int expiresIn = 3600,
        string refreshToken = "shprt_exchanged", int status = 200, int refreshTokenExpiresIn = 7776000) =>
        Server.Given(TokenExchange(shop))
            .RespondWith(status == 200
                ? Response.Create().WithStatusCode(200).WithBodyAsJson(new
                {
                    access_token = accessToken, scope = "read_orders,write_customers,write_discounts,write_app_proxy",
                    expires_in = expiresIn, refresh_token = refreshToken, refresh_token_expires_in = refreshTokenExpiresIn,
                })
                : Response.Create().WithStatusCode(status).WithBodyAsJson(new { error = "invalid_subject_token" }));

    /// <summary>
    /// The token exchange grants what a shop on a legacy non-expiring offline token holds: no expiry, no refresh token; with
    /// <paramref name="expiresIn"/>, an expiring token that still comes without a refresh token.
    /// </summary>
    public void StubTokenExchangeWithoutRefresh(string shop, string accessToken, int? expiresIn = null) =>
        Server.Given(TokenExchange(shop)).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(expiresIn is { } seconds
            ? new { access_token = accessToken, scope = "read_orders,write_customers,write_discounts,write_app_proxy", expires_in = seconds }
            : (object)new { access_token = accessToken, scope = "read_orders,write_customers,write_discounts,write_app_proxy" }));

    private static IRequestBuilder TokenExchange(string shop) => Request.Create().WithPath($"/{shop}/admin/oauth/access_token").UsingPost()
        .WithBody(new WildcardMatcher("*grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange*"));

    public void StubCodeExchange(string shop, string code, string accessToken = "shpat_from_code") =>
        Server.Given(Request.Create().WithPath($"/{shop}/admin/oauth/access_token").UsingPost()
                .WithBody(new WildcardMatcher($"*code={code}*")))
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                access_token = accessToken, scope = "read_orders,write_customers,write_discounts,write_app_proxy",
                expires_in = 3600, refresh_token = "shprt_from_code", refresh_token_expires_in = 7776000,
            }));

    public void StubRefresh(string shop, string oldRefreshToken, string newAccessToken, string newRefreshToken, TimeSpan? delay = null) =>
        Server.Given(Request.Create().WithPath($"/{shop}/admin/oauth/access_token").UsingPost()
                .WithBody(new WildcardMatcher($"*grant_type=refresh_token*refresh_token={oldRefreshToken}*")))
            .RespondWith(WithOptionalDelay(Response.Create().WithStatusCode(200), delay).WithBodyAsJson(new
            {
                access_token = newAccessToken, scope = "read_orders,write_customers,write_discounts,write_app_proxy",
                expires_in = 3600, refresh_token = newRefreshToken, refresh_token_expires_in = 7776000,
            }));

    public void StubRefreshRejected(string shop, int status = 400, string error = "invalid_grant") =>
        Server.Given(Request.Create().WithPath($"/{shop}/admin/oauth/access_token").UsingPost()
                .WithBody(new WildcardMatcher("*grant_type=refresh_token*")))
            .RespondWith(Response.Create().WithStatusCode(status).WithBodyAsJson(new { error }));

    /// <summary>The shop details query the app runs after installing; answers only to <paramref name="acceptedToken"/> when given.</summary>
    public void StubShopDetails(string shop, string? acceptedToken = null, string name = "Cool Shop", string currency = "EUR",
        string timezone = "Europe/Berlin")
    {
        var request = Request.Create().WithPath(GraphQLPath(shop)).UsingPost();
        if (acceptedToken is not null) request = request.WithHeader("X-Shopify-Access-Token", acceptedToken);
        Server.Given(request).AtPriority(10).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
        {
            data = new { shop = new { name, currencyCode = currency, ianaTimezone = timezone } },
            extensions = new { cost = new { requestedQueryCost = 1, actualQueryCost = 1,
                throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = 1999, restoreRate = 100.0 } } },
        }));
    }

    /// <summary>GraphQL answers 401 to a revoked or expired token.</summary>
    public void StubGraphQLUnauthorized(string shop, string token) =>
        Server.Given(Request.Create().WithPath(GraphQLPath(shop)).UsingPost().WithHeader("X-Shopify-Access-Token", token))
            .AtPriority(1)
            .RespondWith(Response.Create().WithStatusCode(401).WithBodyAsJson(
                new { errors = "[API] Invalid API key or access token (unrecognized login or wrong password)" }));

    private static IResponseBuilder WithOptionalDelay(IResponseBuilder response, TimeSpan? delay) =>
        delay is { } d && d > TimeSpan.Zero ? response.WithDelay(d) : response;

    // ---- discounts and metafields (GraphQL operations are told apart by their operation name) ----

    private static IRequestBuilder Operation(string shop, string operation) =>
        Request.Create().WithPath(GraphQLPath(shop)).UsingPost().WithBody(new WildcardMatcher($"*{operation}*"));

    /// <summary>A successful answer whose throttleStatus says the bucket holds <paramref name="available"/> points.</summary>
    private static object Data(object data, double available = 1990, double restoreRate = 100) => new
    {
        data,
        extensions = new { cost = new { requestedQueryCost = 10, actualQueryCost = 10,
            throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = available, restoreRate } } },
    };

    public void StubDiscountCreate(string shop, string discountId = "gid://shopify/DiscountCodeNode/1001", string? scenario = null,
        string? whenState = null, string? setState = null, double available = 1990, double restoreRate = 100, TimeSpan? delay = null)
    {
        var given = Server.Given(Operation(shop, "CreateLoyaltyCode")).AtPriority(5);
        if (scenario is not null) given = given.InScenario(scenario);
        if (whenState is not null) given = given.WhenStateIs(whenState);
        if (setState is not null) given = given.WillSetStateTo(setState);
        given.RespondWith(WithOptionalDelay(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
        {
            discountCodeBasicCreate = new { codeDiscountNode = new { id = discountId }, userErrors = Array.Empty<object>() },
        }, available, restoreRate)), delay));
    }

    public void StubDiscountCreateUserError(string shop, string code, string message, string? scenario = null, string? setState = null)
    {
        var given = Server.Given(Operation(shop, "CreateLoyaltyCode")).AtPriority(4);
        if (scenario is not null) given = given.InScenario(scenario);
        if (setState is not null) given = given.WillSetStateTo(setState);
        given.RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
        {
            discountCodeBasicCreate = new { codeDiscountNode = (object?)null,
                userErrors = new[] { new { field = new[] { "basicCodeDiscount", "code" }, code, message } } },
        })));
    }

    public void StubDiscountCreateStatus(string shop, int status) =>
        Server.Given(Operation(shop, "CreateLoyaltyCode")).AtPriority(3).RespondWith(Response.Create().WithStatusCode(status));

    /// <summary>The next coupon creation is answered THROTTLED, the bucket holding <paramref name="available"/> points refilled at <paramref
    /// name="restoreRate"/>/s.</summary>
    public void StubDiscountCreateThrottledOnce(string shop, double available = 5, double restoreRate = 100)
    {
        Server.Given(Operation(shop, "CreateLoyaltyCode")).AtPriority(2).InScenario("throttle-" + shop).WillSetStateTo("refilled")
            .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
            {
                errors = new[] { new { message = "Throttled", extensions = new { code = "THROTTLED" } } },
                extensions = new { cost = new { requestedQueryCost = 10, actualQueryCost = (int?)null,
                    throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = available, restoreRate } } },
            }));
    }

    public void StubDiscountDelete(string shop, string? userError = null) =>
        Server.Given(Operation(shop, "DeleteLoyaltyCode")).AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
        {
            discountCodeDelete = userError is null
                ? new { deletedCodeDiscountId = (string?)"gid://shopify/DiscountCodeNode/1001", userErrors = Array.Empty<object>() }
                : new { deletedCodeDiscountId = (string?)null, userErrors = new object[] { new { field = new[] { "id" }, code = "INVALID",
                    message = userError } } },
        })));

    public void StubDiscountDeactivate(string shop) =>
        Server.Given(Operation(shop, "DeactivateCampaign")).AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
        {
            discountCodeDeactivate = new { codeDiscountNode = new { id = "gid://shopify/DiscountCodeNode/1001" },
                userErrors = Array.Empty<object>() },
        })));

    /// <summary>codeDiscountNodeByCode: found with <paramref name="title"/>, or null; the answer says the bucket holds <paramref name="available"/>
    /// points.</summary>
    public void StubFindCode(string shop, string? discountId, string? title = null, double available = 1990, double restoreRate = 100,
        int usageCount = 0,
        int priority = 5) =>
        Server.Given(Operation(shop, "FindLoyaltyCode")).AtPriority(priority).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(new
        {
            data = new { codeDiscountNodeByCode = discountId is null ? null
                : new { id = discountId, codeDiscount = new { title, asyncUsageCount = usageCount, usageLimit = 1 } } },
            extensions = new { cost = new { requestedQueryCost = 10, actualQueryCost = 10,
                throttleStatus = new { maximumAvailable = 2000.0, currentlyAvailable = available, restoreRate } } },
        }));

    public void StubCouponsMetafield(string shop, string? value = null, string? digest = null) =>
        Server.Given(Operation(shop, "LoyaltyCoupons")).AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
        {
            customer = new { metafield = value is null ? null : new { value, compareDigest = digest } },
        })));

    public void StubMetafieldsSet(string shop, bool staleFirst = false)
    {
        if (staleFirst)
        {
            Server.Given(Operation(shop, "SetLoyaltyCoupons")).AtPriority(4).InScenario("stale-" + shop).WillSetStateTo("fresh")
                .RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
                {
                    metafieldsSet = new { metafields = Array.Empty<object>(),
                        userErrors = new[] { new { field = new[] { "metafields", "0" },
                        message = "The resource has been updated since it was loaded.", code = "STALE_OBJECT" } } },
                })));
        }
        Server.Given(Operation(shop, "SetLoyaltyCoupons")).AtPriority(5).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
        {
            metafieldsSet = new { metafields = new[] { new { id = "gid://shopify/Metafield/1" } }, userErrors = Array.Empty<object>() },
        })));
    }

    /// <summary>Shopify refuses the customer's list (a user error: the value is too big), ahead of <see cref="StubMetafieldsSet"/>.</summary>
    public void StubMetafieldsSetRefused(string shop) =>
        Server.Given(Operation(shop, "SetLoyaltyCoupons")).AtPriority(1).RespondWith(Response.Create().WithStatusCode(200).WithBodyAsJson(Data(new
        {
            metafieldsSet = new { metafields = Array.Empty<object>(),
                userErrors = new[] { new { field = new[] { "value" }, code = "INVALID_VALUE", message = "Value is too big" } } },
        })));

    /// <summary>
    /// Forgets every stub of <paramref name="shop"/>, leaving other shops' (tests sharing this fake): Shopify "from scratch"
    /// for that shop. Its journal stays.
    /// </summary>
    public void ResetMappings(string shop)
    {
        foreach (var mapping in Server.Mappings.Where(m => IsFor(m, shop)).ToList()) Server.DeleteMapping(mapping.Guid);
    }

    private static bool IsFor(IMapping mapping, string shop) =>
        mapping.RequestMatcher is Request request
        && request.GetRequestMessageMatcher<RequestMessagePathMatcher>()?.Matchers?.Any(m => m.GetPatterns()
            .Any(p => p.GetPattern().StartsWith($"/{shop}/", StringComparison.Ordinal))) == true;

    /// <summary>GraphQL calls of one operation for a shop, in order.</summary>
    public IReadOnlyList<string> OperationBodies(string shop, string operation) => Server.LogEntries
        .Where(e => e.RequestMessage!.Path == GraphQLPath(shop) && e.RequestMessage.Body?.Contains(operation, StringComparison.Ordinal) == true)
        .Select(e => e.RequestMessage!.Body!)
        .ToList();

    public static string GraphQLPath(string shop) => $"/{shop}/admin/api/{ApiVersion}/graphql.json";

    public IReadOnlyList<ILogEntry> Calls(string shop, string pathSuffix) =>
        Server.LogEntries.Where(e => e.RequestMessage!.Path == $"/{shop}{pathSuffix}").ToList();

    public IReadOnlyList<ILogEntry> TokenCalls(string shop, string grantFragment) =>
        Calls(shop, "/admin/oauth/access_token").Where(e => e.RequestMessage!.Body?.Contains(grantFragment,
            StringComparison.Ordinal) == true).ToList();

    public void Dispose() => Server.Stop();
}
