using WireMock.Server;

namespace Loyalty.Tests.Infrastructure;

/// <summary>
/// One running app (a <see cref="LoyaltyApp"/> on a database of its own, Shopify pointed at a <see cref="ShopifyFake"/>)
/// for a whole test class: xUnit starts it before the class's first test and stops it after its last (as the class
/// fixture of <see cref="AppTests{TFixture}"/>). Tests of one class run one after another, each in a shop of its own
/// (<see cref="NewShopAsync"/>), so they share the app but not its data; classes run in parallel on apps of their own.
/// A class whose app needs other settings or services has a subclass that passes them (or overrides
/// <see cref="Services"/>). A test whose app must be its alone, because it changes what the whole app holds in memory
/// (rate-limit windows, lockouts) or its start must fail, starts one with <see cref="StartAsync"/>.
/// </summary>
public class AppFixture : IAsyncLifetime, IAsyncDisposable
{
    private readonly Dictionary<string, string?>? _settings;
    private readonly Action<IServiceCollection>? _services;
    private readonly string? _connectionString;
    private readonly List<WireMockServer> _servers = [];

    public AppFixture()
    {
    }

    /// <param name="settings">Settings added to (or changed in) <see cref="LoyaltyApp"/>'s own test settings.</param>
    /// <param name="services">Services replaced or added (test webhook handlers, a log capture).</param>
    /// <param name="connectionString">An existing database (two instances of the app on one); a new one when null.</param>
    protected AppFixture(Dictionary<string, string?>? settings, Action<IServiceCollection>? services = null, string? connectionString = null)
    {
        _settings = settings;
        _services = services;
        _connectionString = connectionString;
    }

    public ShopifyFake Shopify { get; } = new();

    public LoyaltyApp App { get; private set; } = null!;

    protected virtual Action<IServiceCollection>? Services => _services;

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
        await App.InstallAsync(Shopify, shop);
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

    protected virtual Task<LoyaltyApp> StartAppAsync() => LoyaltyApp.StartAsync(Shopify, _settings, Services, _connectionString);

    public async Task DisposeAsync()
    {
        if (App is not null) await App.DisposeAsync();
        Shopify.Dispose();
        lock (_servers) _servers.ForEach(s => s.Stop());
    }

    async ValueTask IAsyncDisposable.DisposeAsync()
    {
        await DisposeAsync();
        GC.SuppressFinalize(this);
    }
}
