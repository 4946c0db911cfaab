using Loyalty.Pos;
using Loyalty.ShopifyApp.Features.Settings;
using Microsoft.AspNetCore.DataProtection;

namespace Loyalty.Tests.Features.PosSync;

/// <summary>
/// Two instances of the app on one database (<see cref="AppFixture.App"/> and <see cref="Second"/>), as a deployment runs them. A POS
/// connection's circuit opens on two failures (no retries), its break lasts <paramref name="breakSeconds"/>, and an instance asks the
/// shared board again every 0.1 s.
/// </summary>
public abstract class TwoInstancesApp(double breakSeconds) : PosSyncApp(new Dictionary<string, string?>
{
    ["Pos:MaxRetries"] = "0",
    ["Pos:CircuitMinimumThroughput"] = "2",
    ["Pos:CircuitFailureRatio"] = "0.5",
    ["Pos:CircuitBreakSeconds"] = breakSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture),
    ["Pos:SharedCircuitRefreshSeconds"] = "0.1",
})
{
    public LoyaltyApp Second { get; private set; } = null!;

    protected override async Task<LoyaltyApp> StartAppAsync()
    {
        var first = await base.StartAppAsync();
        Second = await LoyaltyApp.StartAsync(Shopify, new Dictionary<string, string?>(Settings), Services, first.ConnectionString);
        return first;
    }

    public override async Task DisposeAsync()
    {
        if (Second is not null) await Second.DisposeAsync();
        await base.DisposeAsync();
    }
}

/// <summary>A break longer than any test: whatever a test sees end was ended by the app, not by the clock.</summary>
public sealed class LongBreakInstances() : TwoInstancesApp(breakSeconds: 60);

/// <summary>A break a test can wait out.</summary>
public sealed class ShortBreakInstances() : TwoInstancesApp(breakSeconds: 4);

/// <summary>
/// A shop in POS mode (<see cref="PosSyncTestBase{TFixture}"/>) on two instances. Its customer 777's balance is read from the POS by
/// the storefront's <c>/proxy/api/me</c> on either instance; the POS fake's own journal says which reads reached it.
/// </summary>
public abstract class SharedPosCircuitTestBase<TFixture>(TFixture fixture) : PosSyncTestBase<TFixture>(fixture) where TFixture : TwoInstancesApp
{
    protected LoyaltyApp Second => Fixture.Second;

    protected static IRequestBuilder BalanceRead(string? key = null)
    {
        var request = Request.Create().WithPath("/customers/777/points").UsingGet();
        return key is null ? request : request.WithHeader("Authorization", $"Bearer {key}");
    }

    protected static IResponseBuilder Balance(long points) =>
        Response.Create().WithStatusCode(200).WithBodyAsJson(new { customerId = "777", balance = points });

    /// <summary>The balance reads that reached the POS, with <paramref name="key"/> when given.</summary>
    protected int PosReads(string? key = null) => Pos.LogEntries.Count(e => e.RequestMessage!.Path == "/customers/777/points"
        && (key is null || e.RequestMessage.Headers!["Authorization"].Single() == $"Bearer {key}"));

    /// <summary>Where <paramref name="app"/>'s storefront took customer 777's balance from: <c>pos</c>, or <c>ledger_fallback</c>.</summary>
    protected static async Task<string> BalanceSourceAsync(LoyaltyApp app, string shop)
    {
        var me = await app.Http.GetFromJsonAsync<JsonElement>(LoyaltyApp.ProxyPath("/proxy/api/me", shop, 777));
        return me.GetProperty("balanceSource").GetString()!;
    }

    /// <summary>Rows of <paramref name="shop"/> on the shared board (<c>pos_circuits</c>) whose break is still running.</summary>
    protected Task<long> BreaksAsync(string shop) => App.ScalarAsync<long>(
        "SELECT count(*) FROM pos_circuits WHERE shop_domain = @shop AND open_until > clock_timestamp()", new { shop });

    /// <summary>
    /// The shop's POS fails with the key it was saved with: two reads on the first instance reach it and open that instance's circuit,
    /// a third does not, and the break is on the shared board.
    /// </summary>
    protected async Task OpenOnTheFirstInstanceAsync()
    {
        Pos.Given(BalanceRead("pos-key")).RespondWith(Response.Create().WithStatusCode(500));
        for (var i = 0; i < 3; i++) Assert.Equal("ledger_fallback", await BalanceSourceAsync(App, Shop));
        Assert.Equal(2, PosReads());
        await LoyaltyApp.WaitUntilAsync(async () => await BreaksAsync(Shop) == 1, "the break on the shared board");
    }

    /// <summary>The shop's POS as the app's code loads it from the saved settings (named for the shared board).</summary>
    protected async Task<PosConnection> SavedConnectionAsync()
    {
        await using var conn = await App.Db.OpenConnectionAsync();
        var dataProtection = App.Services.GetRequiredService<IDataProtectionProvider>();
        return (await ShopSettings.LoadAsync(conn, null, Shop, default)).PosConnection(Shop, dataProtection)!;
    }

    protected async Task SavePosKeyAsync(LoyaltyApp app, string key)
    {
        using var response = await app.Http.SendAsync(app.Admin(HttpMethod.Put, "/api/admin/settings", Shop,
            JsonContent.Create(new { balanceSource = "pos", posBaseUrl = Pos.Url, posApiKey = key })));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
