using Loyalty.Sandbox;
using WireMock.Server;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// One running app (a <see cref="LoyaltyApp"/> on a database of its own, Shopify pointed at a <see cref="ShopifyFake"/>)
/// for a whole test class: xUnit starts it before the class's first test and stops it after its last (as the class
/// fixture of <see cref="AppTests{TFixture}"/>). Tests of one class run one after another, each in a shop of its own
/// (<see cref="NewShopAsync"/>), so they share the app but not its data; classes run in parallel on apps of their own.
/// A class whose app needs other settings or services has a subclass that passes them (or overrides
/// <see cref="Services"/>). A test whose app must be its alone, because it changes what the whole app holds in memory
/// (rate-limit windows, lockouts) or its start must fail, starts one with <see cref="StartAsync"/>. A class that judges the app by
/// what Shopify holds passes <c>shopifySimulator: true</c>: the app's Shopify is then the stateful <see cref="ShopifySimulator"/>
/// (shops install through its token exchange), whose records are the ground truth.
/// </summary>
public class AppFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly Dictionary<string, string?>? _settings;
    private readonly Action<IServiceCollection>? _services;
    private readonly string? _connectionString;
    private readonly bool _shopifySimulator;
    private readonly List<WireMockServer> _servers = [];

    public AppFixture()
    {
    }

    /// <param name="settings">Settings added to (or changed in) <see cref="LoyaltyApp"/>'s own test settings.</param>
    /// <param name="services">Services replaced or added (test webhook handlers, a log capture).</param>
    /// <param name="connectionString">An existing database (two instances of the app on one); a new one when null.</param>
    /// <param name="shopifySimulator">Shopify is the <see cref="ShopifySimulator"/> (<see cref="Simulator"/>), not the WireMock fake.</param>
    protected AppFixture(Dictionary<string, string?>? settings, Action<IServiceCollection>? services = null, string? connectionString = null,
        bool shopifySimulator = false)
    {
        _settings = settings;
        _services = services;
        _connectionString = connectionString;
        _shopifySimulator = shopifySimulator;
    }

    public ShopifyFake Shopify { get; } = new();

    /// <summary>The app's Shopify, when the class asked for the simulator.</summary>
    public ShopifySimulator Simulator => _simulator ?? throw new InvalidOperationException("This fixture's Shopify is the WireMock fake.");

    private ShopifySimulator? _simulator;

    public LoyaltyApp App { get; private set; } = null!;

    protected virtual Action<IServiceCollection>? Services => _services;

    /// <summary>The settings the app was given over <see cref="LoyaltyApp"/>'s own (a second instance of it starts with them too).</summary>
    protected IReadOnlyDictionary<string, string?> Settings => _settings ?? [];

    /// <summary>An app for one test alone; the test disposes it (<c>await using</c>).</summary>
    public static async Task<AppFixture> StartAsync(Dictionary<string, string?>? settings = null, Action<IServiceCollection>? services = null,
        string? connectionString = null)
    {
        var fixture = new AppFixture(settings, services, connectionString);
        try
        {
            await fixture.InitializeAsync();
        }
        catch
        {
            await fixture.DisposeAsync();
            throw;
        }
        return fixture;
    }

    /// <summary>A shop no test has used, installed through the real token-exchange path.</summary>
    public virtual async Task<string> NewShopAsync()
    {
        var shop = LoyaltyApp.NewShop();
        if (_simulator is null)
        {
            await App.InstallAsync(Shopify, shop);
            return shop;
        }
        using var response = await App.Http.SendAsync(App.Admin(HttpMethod.Get, "/api/admin/shop", shop));
        if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"Install of {shop} failed: {(int)response.StatusCode}");
        await App.EarnFromTheStartAsync(shop);
        return shop;
    }

    /// <summary>
    /// A fake far side (a POS, an event receiver) on a socket of its own for one test, kept running until the app stops:
    /// work the app still does for an earlier test's shop reaches that test's server, never a later test's.
    /// </summary>
    public WireMockServer NewServer()
    {
        var server = WireMockServer.Start();
        lock (_servers) _servers.Add(server);
        return server;
    }

    public async Task InitializeAsync() => App = await StartAppAsync();

    protected virtual async Task<LoyaltyApp> StartAppAsync()
    {
        if (!_shopifySimulator) return await LoyaltyApp.StartAsync(Shopify, _settings, Services, _connectionString);
        _simulator = await ShopifySimulator.StartAsync(LoyaltyApp.ApiKey, LoyaltyApp.Secret, seed: 18);
        var settings = new Dictionary<string, string?>(_settings ?? []) { ["Shopify:AdminUrlTemplate"] = _simulator.AdminUrlTemplate };
        return await LoyaltyApp.StartAsync(Shopify, settings, Services, _connectionString);
    }

    public virtual async Task DisposeAsync()
    {
        if (App is not null) await App.DisposeAsync();
        if (_simulator is not null) await _simulator.DisposeAsync();
        Shopify.Dispose();
        lock (_servers) _servers.ForEach(s => s.Stop());
    }

    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        await DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
