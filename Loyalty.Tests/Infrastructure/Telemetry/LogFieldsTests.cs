using Loyalty.Tests.Features.Conversion;
using Microsoft.Extensions.Logging;

namespace Loyalty.Tests.Infrastructure.Telemetry;

/// <summary>What an operator searching the logs finds: a conversion's lines carry its ids as fields, and no HTTP chatter.</summary>
public sealed class LogFieldsTests(LogFieldsTests.LoggedApp app) : ConversionTestBase<LogFieldsTests.LoggedApp>(app)
{
    public sealed class LoggedApp : ConversionApp
    {
        public CapturedLogs Logs { get; } = new();

        protected override Action<IServiceCollection> Services => services => services.AddSingleton<ILoggerProvider>(Logs);
    }

    /// <summary>The class shares one app: only this test's shop's lines count.</summary>
    private bool OfThisShop(CapturedLogs.Line line) => Equals(line.Fields.GetValueOrDefault("ShopDomain"), Shop);

    [Fact]
    public async Task A_conversions_log_lines_carry_shop_customer_and_conversion_ids_and_outbound_calls_write_no_information_lines()
    {
        await GiveAsync(1000);
        Shopify.StubDiscountCreate(Shop);

        var response = await ConvertAsync(500, "attempt-1");

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var conversionId = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("conversionId").GetString();
        var completed = Assert.Single(Fixture.Logs.Lines, l => OfThisShop(l) && l.Category.EndsWith("ConversionSaga", StringComparison.Ordinal)
            && l.Message.Contains("completed"));
        Assert.Equal(Shop, completed.Fields["ShopDomain"]);
        Assert.Equal(Customer, completed.Fields["CustomerId"]);
        Assert.Equal(conversionId, completed.Fields["ConversionId"]);

        // The conversion called Shopify (discount, metafield) through HttpClient: none of it below Warning.
        Assert.NotEmpty(Shopify.OperationBodies(Shop, "CreateLoyaltyCode"));
        Assert.DoesNotContain(Fixture.Logs.Lines, l => l.Level < LogLevel.Warning
            && (l.Category.StartsWith("System.Net.Http", StringComparison.Ordinal) || l.Category.StartsWith("Polly", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task The_reconcilers_own_lines_carry_shop_customer_and_conversion_ids()
    {
        await GiveAsync(1000);
        // A conversion a crash left pending whose coupon Shopify never got: the reconciler fails it, and says so.
        var id = await LeftBehindAsync("pending");

        await ReconcileAsync();

        Assert.Equal("failed", await StateAsync(id));
        var moved = Assert.Single(Fixture.Logs.Lines, l => OfThisShop(l) && l.Category.EndsWith("ConversionReconciler", StringComparison.Ordinal)
            && l.Message.Contains("moved"));
        Assert.Equal(Shop, moved.Fields["ShopDomain"]);
        Assert.Equal(Customer, moved.Fields["CustomerId"]);
        Assert.Equal(id, moved.Fields["ConversionId"]);
    }
}
