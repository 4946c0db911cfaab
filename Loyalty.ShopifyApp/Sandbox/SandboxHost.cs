using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Install;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>Section <c>Sandbox</c>: where the local simulators listen and what the demo shop holds.</summary>
public sealed class SandboxOptions
{
    public int ShopifyPort { get; set; } = 5081;

    public int PosPort { get; set; } = 5082;

    public string DemoShop { get; set; } = "demo-shop.myshopify.com";

    /// <summary>Demo customers and their starting balances.</summary>
    public Dictionary<string, long> DemoCustomers { get; set; } = new() { ["1001"] = 1500, ["1002"] = 300, ["1003"] = 12000 };
}

/// <summary>
/// Starts the Shopify and POS simulators and installs the demo shop through the real token-exchange path, with its
/// demo customers' starting balances, demo rules on first start and the POS connection set.
/// </summary>
internal sealed partial class SandboxHost(
    IOptions<ShopifyOptions> shopify, IOptions<SandboxOptions> sandbox, SandboxSimulators simulators, IServiceProvider services,
    IHostEnvironment environment, ILogger<SandboxHost> logger)
    : IHostedService, IAsyncDisposable
{
    private ShopifySimulator? _shopify;
    private PosSimulator? _pos;

    public async Task StartAsync(CancellationToken ct)
    {
        // SandboxGuard has refused to start anything else; the simulators never get a real secret even so.
        if (!shopify.Value.Sandbox || !environment.IsDevelopment() || shopify.Value.ApiSecret != SandboxMode.ClientSecret) return;
        var o = sandbox.Value;
        _shopify = await ShopifySimulator.StartAsync(shopify.Value.ApiKey, shopify.Value.ApiSecret, port: o.ShopifyPort, ct: ct);
        _pos = await PosSimulator.StartAsync(port: o.PosPort, ct: ct);
        simulators.Shopify = _shopify;
        simulators.Pos = _pos;
        foreach (var (customer, balance) in o.DemoCustomers) _pos.SetBalance(customer, balance);

        // The simulators keep their state in memory: tokens from an earlier run mean nothing to this one.
        var db = services.GetRequiredService<NpgsqlDataSource>();
        await using (var conn = await db.OpenConnectionAsync(ct))
        {
            await conn.ExecuteAsync(new CommandDefinition("DELETE FROM shop_tokens WHERE shop_domain = @shop", new { shop = o.DemoShop },
                cancellationToken: ct));
        }
        // The demo shop is installed the way a real one is: a session token exchanged for an offline token.
        await services.GetRequiredService<ShopInstallation>().EnsureInstalledAsync(o.DemoShop, SandboxMode.SessionToken(shopify.Value, o.DemoShop),
            ct);
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var tx = await conn.BeginTransactionAsync(ct))
        {
            // Demo rules on first start (a point per unit of the order total, a point is worth a cent, codes from 500 points in steps
            // of 100): a new shop earns nothing until its merchant sets a rate, and the demo should earn. What the merchant saves later
            // in the admin is kept.
            var s = await ShopSettings.LoadAsync(conn, tx, o.DemoShop, ct) with
            {
                EarnRate = 1m, PointValue = 0.01m, MinConversion = 500, ConversionStep = 100,
            };
            foreach (var (customer, balance) in o.DemoCustomers)
            {
                await Ledger.PostAsync(conn, tx, new PointsEntry(o.DemoShop, long.Parse(customer, System.Globalization.CultureInfo.InvariantCulture),
                    balance, "bonus", $"sandbox:welcome:{customer}", "Sandbox starting balance", "system"), new Posting(QueueForPos: false), ct);
            }
            // The POS connection is set, so the merchant can switch the demo shop to POS mode in the settings.
            var key = ShopSettings.PosKeyProtector(services.GetRequiredService<IDataProtectionProvider>()).Protect(_pos.ApiKey);
            await conn.ExecuteAsync(new CommandDefinition("""
                INSERT INTO shop_settings (shop_domain, earn_rate, earn_basis, test_orders_earn, point_value, min_conversion, conversion_step,
                    daily_conversion_limit, coupon_validity_days, feedback_bonus, feedback_daily_limit, negative_balance_policy, balance_source,
                    pos_base_url, pos_api_key_protected)
                VALUES (@shop, @EarnRate, @EarnBasis, @TestOrdersEarn, @PointValue, @MinConversion, @ConversionStep, @DailyConversionLimit,
                    @CouponValidityDays, @FeedbackBonus, @FeedbackDailyLimit, @NegativeBalancePolicy, @BalanceSource, @posUrl, @key)
                ON CONFLICT (shop_domain) DO UPDATE SET pos_base_url = excluded.pos_base_url, pos_api_key_protected = excluded.pos_api_key_protected
                """, new
            {
                shop = o.DemoShop, s.EarnRate, s.EarnBasis, s.TestOrdersEarn, s.PointValue, s.MinConversion, s.ConversionStep, s.DailyConversionLimit,
                s.CouponValidityDays, s.FeedbackBonus, s.FeedbackDailyLimit, s.NegativeBalancePolicy, s.BalanceSource,
                posUrl = _pos.BaseUrl.ToString(), key,
            }, tx, cancellationToken: ct));
            await tx.CommitAsync(ct);
        }
        LogReady(_shopify.BaseUrl.ToString(), _pos.BaseUrl.ToString(), o.DemoShop, string.Join(", ", o.DemoCustomers.Keys));
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        if (_shopify is not null) await _shopify.DisposeAsync();
        if (_pos is not null) await _pos.DisposeAsync();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message =
        "SANDBOX: Shopify simulator at {ShopifyUrl}, POS simulator at {PosUrl}; demo shop {Shop} installed with customers {Customers}")]
    private partial void LogReady(string shopifyUrl, string posUrl, string shop, string customers);
}

/// <summary>The running simulators, once the sandbox started them (null outside the sandbox).</summary>
public sealed class SandboxSimulators
{
    public ShopifySimulator? Shopify { get; internal set; }

    public PosSimulator? Pos { get; internal set; }
}
