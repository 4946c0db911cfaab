using Loyalty.Sandbox;
using Xunit.Abstractions;

namespace Loyalty.Tests.Conformance;

/// <summary>
/// What the app sends to the GraphQL Admin API, judged by Shopify's own schema of the configured version (offline, via
/// <c>tools/validate-graphql.mjs</c>): every document validates and every set of variables the app really sent coerces,
/// and no document in the app escapes being sent and judged.
/// </summary>
public sealed class AdminGraphQLConformanceTests(AppAdminTraffic traffic, ITestOutputHelper output) : IClassFixture<AppAdminTraffic>
{
    [Fact]
    public async Task Every_operation_the_app_sends_validates_against_the_Admin_API_schema_with_the_variables_it_sent()
    {
        // One check per distinct request; the same document with the same variables says nothing new.
        var sent = traffic.Received
            .GroupBy(r => (AdminOperations.Normalize(r.Document), r.VariablesJson))
            .Select((g, i) => new AdminSchema.Operation($"{AdminSchema.Name(g.First().Document)} #{i}", g.First().Document, g.Key.VariablesJson))
            .ToList();

        var verdicts = await AdminSchema.ValidateAsync(sent);

        foreach (var deprecated in verdicts.SelectMany(v => v.Deprecations.Select(d => $"{v.Name}: {d}")).Distinct()) output.WriteLine(
            $"deprecated: {deprecated}");
        foreach (var operation in sent.GroupBy(s => AdminSchema.Name(s.Document)).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            output.WriteLine($"{operation.Key}: {operation.Count()} distinct set(s) of variables");
        }
        var failed = verdicts.Where(v => !v.Valid).ToList();
        Assert.True(failed.Count == 0, "Shopify would refuse:\n" + AdminSchema.Describe(failed));
        var refused = traffic.Received.Where(r => !r.Allowed).Select(r => AdminSchema.Name(r.Document)).Distinct().ToList();
        Assert.True(refused.Count == 0,
            $"The simulator refused {string.Join(", ", refused)}: not in Loyalty.Sandbox/admin-operations.json (see SimulatorAllowListTests).");
    }

    [Fact]
    public void Every_GraphQL_document_in_the_app_was_sent_while_driving_it_so_none_escapes_validation()
    {
        var sent = traffic.Received.Select(r => AdminOperations.Normalize(r.Document)).ToHashSet(StringComparer.Ordinal);
        var documents = AdminSchema.AppDocuments();

        var never = documents.Where(d => !sent.Contains(AdminOperations.Normalize(d))).Select(AdminSchema.Name).ToList();

        Assert.NotEmpty(documents);
        Assert.True(never.Count == 0,
            $"Never sent while AppAdminTraffic drove the app, so never validated with real variables: {string.Join(", ", never)}. " +
            "Drive the feature that sends it in AppAdminTraffic (a document assembled at run time shows here as a fragment: keep documents " +
                "literal).");
    }

    [Fact]
    public async Task The_validator_refuses_an_unknown_field_a_wrongly_typed_or_undeclared_variable_a_malformed_Shopify_scalar_and_bad_syntax()
    {
        var create = AdminSchema.AppDocuments().Single(d => AdminSchema.Name(d) == "CreateLoyaltyCode");
        const string goodInput = """
            {"input":{"title":"t","code":"C1","startsAt":"2026-11-23T10:00:00Z","endsAt":"2027-02-21T10:00:00Z","usageLimit":1,
             "appliesOncePerCustomer":true,"context":{"customers":{"add":["gid://shopify/Customer/777"]}},
             "customerGets":{"value":{"discountAmount":{"amount":"5.00","appliesOnEachItem":false}},"items":{"all":true}},
             "combinesWith":{"orderDiscounts":false,"productDiscounts":true,"shippingDiscounts":true}}}
            """;

        var verdicts = await AdminSchema.ValidateAsync(
        [
            new("as the app sends it", create, goodInput),
            new("unknown field", create.Replace("codeDiscountNode { id }", "codeDiscountNode { id secretCode }", StringComparison.Ordinal)),
            new("wrong variable type", create, goodInput.Replace("\"usageLimit\":1", "\"usageLimit\":\"one\"", StringComparison.Ordinal)),
            new("malformed DateTime", create, goodInput.Replace("2027-02-21T10:00:00Z", "21/02/2027", StringComparison.Ordinal)),
            new("unknown input field", create, goodInput.Replace("\"context\"", "\"audience\"", StringComparison.Ordinal)),
            new("undeclared variable", "query ShopDetails { shop { name } }", """{"shop":"x"}"""),
            new("syntax", "mutation { discountCodeDelete(id: ) { deletedCodeDiscountId } }"),
        ]);

        Assert.Equal([true, false, false, false, false, false, false], verdicts.Select(v => v.Valid));
        Assert.Contains(verdicts[1].Errors, e => e.Contains("secretCode", StringComparison.Ordinal));
        Assert.Contains(verdicts[2].Errors, e => e.Contains("usageLimit", StringComparison.Ordinal));
        Assert.Contains(verdicts[3].Errors, e => e.Contains("DateTime", StringComparison.Ordinal));
        Assert.Contains(verdicts[4].Errors, e => e.Contains("audience", StringComparison.Ordinal));
        Assert.Contains(verdicts[5].Errors, e => e.Contains("$shop", StringComparison.Ordinal));
        Assert.Contains(verdicts[6].Errors, e => e.StartsWith("syntax", StringComparison.Ordinal));
    }

    /// <summary>
    /// The sweep asks for a page of orders at a time; the largest page its setting allows must stay under the 1,000 points Shopify
    /// allows a query (else every sweep fails with MAX_COST_EXCEEDED), by the cost model Shopify publishes. Each order's
    /// transactions made a page of 100 cost 1,402: PageSize is at most 60 since.
    /// </summary>
    [Fact]
    public async Task The_missed_order_sweeps_largest_page_costs_no_more_than_Shopify_allows_a_query()
    {
        var sweep = AdminSchema.AppDocuments().Single(d => AdminSchema.Name(d) == "PaidOrders");
        var range = typeof(Loyalty.ShopifyApp.Features.Points.OrderSweepOptions).GetProperty("PageSize")!
            .GetCustomAttributes(typeof(System.ComponentModel.DataAnnotations.RangeAttribute), false).Cast<
                System.ComponentModel.DataAnnotations.RangeAttribute>().Single();
        string Page(object first) => $$"""{"query":"(financial_status:paid) updated_at:>'2026-12-01T00:00:00Z'","first":{{first}},"after":null}""";

        var verdicts = await AdminSchema.ValidateAsync([new("largest page", sweep, Page(range.Maximum)), new("a page of 100", sweep, Page(100))]);

        Assert.True(verdicts[0].Valid, AdminSchema.Describe(verdicts));
        Assert.Contains(verdicts[1].Errors, e => e.StartsWith("MAX_COST_EXCEEDED: requested cost 1402", StringComparison.Ordinal));
    }
}
