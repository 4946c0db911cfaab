using Loyalty.Sandbox;

namespace Loyalty.Tests.Conformance;

/// <summary>
/// The Shopify simulator (sandbox, soak, end-to-end tests) answers only documents in <c>Loyalty.Sandbox/admin-operations.json</c>;
/// this keeps that list exactly the app's documents, each valid for the configured Admin API version, and shows the
/// simulator refusing anything else the way Shopify refuses an invalid document.
/// </summary>
public sealed class SimulatorAllowListTests
{
    private const string Rewrite = "LOYALTY_WRITE_ADMIN_OPERATIONS";

    private static string ListPath => Path.Combine(NodeTools.RepoRoot, "Loyalty.Sandbox", "admin-operations.json");

    [Fact]
    public async Task The_simulators_allow_list_is_exactly_the_apps_documents_and_each_validates_against_the_Admin_API_schema()
    {
        var app = AdminSchema.AppDocuments().Select(d => new AdminOperations.Operation(AdminSchema.Name(d), AdminOperations.Normalize(d))).ToList();
        var duplicates = app.GroupBy(o => o.Name).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.True(duplicates.Count == 0, $"Operation names the simulator tells apart must be unique: {string.Join(", ", duplicates)}");
        if (Environment.GetEnvironmentVariable(Rewrite) == "1")
        {
            var check = await AdminSchema.ValidateAsync([.. app.Select(o => new AdminSchema.Operation(o.Name, o.Document))]);
            Assert.True(check.All(v => v.Valid), "Not written; Shopify would refuse:\n" + AdminSchema.Describe(check.Where(v => !v.Valid)));
            await File.WriteAllTextAsync(ListPath, AdminOperations.Serialize(AdminSchema.ApiVersion, app));
        }

        var listed = AdminOperations.Parse(await File.ReadAllTextAsync(ListPath));
        var verdicts = await AdminSchema.ValidateAsync([.. listed.Operations.Select(o => new AdminSchema.Operation(o.Name, o.Document))]);

        Assert.Equal(AdminSchema.ApiVersion, listed.ApiVersion);
        Assert.True(verdicts.All(v => v.Valid), "admin-operations.json holds documents Shopify would refuse:\n"
            + AdminSchema.Describe(verdicts.Where(v => !v.Valid)));
        var inList = listed.Operations.Select(o => AdminOperations.Normalize(o.Document)).ToHashSet(StringComparer.Ordinal);
        var inApp = app.Select(o => o.Document).ToHashSet(StringComparer.Ordinal);
        var missing = app.Where(o => !inList.Contains(o.Document)).Select(o => o.Name).ToList();
        var stale = listed.Operations.Where(o => !inApp.Contains(AdminOperations.Normalize(o.Document))).Select(o => o.Name).ToList();
        Assert.True(missing.Count == 0 && stale.Count == 0,
            $"admin-operations.json is behind the app: missing {string.Join(", ", missing)}; no longer sent {string.Join(", ", stale)}. Rewrite it " +
                $"with " +
            $"{Rewrite}=1 dotnet test Loyalty.Tests --filter \"FullyQualifiedName~SimulatorAllowListTests\" (it is written only if every document " +
                $"validates), then rebuild.");
        Assert.True(inList.SetEquals(AdminOperations.Bundled.Operations.Select(o => AdminOperations.Normalize(o.Document))),
            "The built Loyalty.Sandbox carries an older admin-operations.json than the file: rebuild.");
    }

    [Fact]
    public async Task The_simulator_answers_a_listed_document_however_it_is_laid_out_and_refuses_any_other_as_Shopify_refuses_an_invalid_one()
    {
        const string shop = "allow-list.myshopify.com";
        await using var shopify = await ShopifySimulator.StartAsync(LoyaltyApp.ApiKey, LoyaltyApp.Secret);
        var seen = new List<ShopifySimulator.ReceivedOperation>();
        shopify.OnOperation = seen.Add;
        using var http = new HttpClient { BaseAddress = shopify.BaseUrl };
        var token = (await (await http.PostAsync($"/{shop}/admin/oauth/access_token", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["client_id"] = LoyaltyApp.ApiKey, ["client_secret"] = LoyaltyApp.Secret, ["code"] = "a-code",
        }))).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
        async Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(string document)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, $"/{shop}/admin/api/{AdminSchema.ApiVersion}/graphql.json")
            {
                Content = JsonContent.Create(new { query = document, variables = new { } }),
            };
            request.Headers.Add("X-Shopify-Access-Token", token);
            using var response = await http.SendAsync(request);
            return (response.StatusCode, await response.Content.ReadFromJsonAsync<JsonElement>());
        }

        var relaid = await SendAsync("""
            # the install's shop details, laid out by hand
            query ShopDetails {
              shop { name, currencyCode
                     ianaTimezone }
            }
            """);
        var unknown = await SendAsync("query ShopDetails { shop { name currencyCode ianaTimezone email } }");

        Assert.Equal(HttpStatusCode.OK, relaid.Status);
        Assert.Equal("allow-list", relaid.Body.GetProperty("data").GetProperty("shop").GetProperty("name").GetString());
        Assert.Equal(HttpStatusCode.OK, unknown.Status);
        Assert.False(unknown.Body.TryGetProperty("data", out _));
        Assert.Equal("UNVALIDATED_OPERATION", unknown.Body.GetProperty("errors")[0].GetProperty("extensions").GetProperty("code").GetString());
        Assert.Equal([true, false], seen.Select(s => s.Allowed));
    }
}
