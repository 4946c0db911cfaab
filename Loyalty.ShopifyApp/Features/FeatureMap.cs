using Loyalty.ShopifyApp.Features.Admin;
using Loyalty.ShopifyApp.Features.Campaigns;
using Loyalty.ShopifyApp.Features.Compliance;
using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Dashboard;
using Loyalty.ShopifyApp.Features.Donations;
using Loyalty.ShopifyApp.Features.Events;
using Loyalty.ShopifyApp.Features.Health;
using Loyalty.Pos;
using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Features.Points;
using Loyalty.ShopifyApp.Features.PosSync;
using Loyalty.ShopifyApp.Features.Sandbox;
using Loyalty.ShopifyApp.Features.Settings;
using Loyalty.ShopifyApp.Features.Storefront;
using Loyalty.ShopifyApp.Features.Storefront.MyPage;
using Loyalty.ShopifyApp.Features.Webhooks;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Microsoft.Extensions.Options;

namespace Loyalty.ShopifyApp.Features;

public static class FeatureMap
{
    /// <summary>Services of every feature: webhook topic handlers, background workers, feature services.</summary>
    public static IHostApplicationBuilder AddFeatures(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddReadinessChecks();
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<WebhookOptions>, WebhookOptionsValidator>();
        services.AddSingleton<WebhookSignal>();
        services.AddSingleton<WebhookInbox>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookInbox>());
        services.AddSingleton<WebhookProcessor>();
        services.AddHostedService(sp => sp.GetRequiredService<WebhookProcessor>());

        services.AddStorefrontLimits();
        services.AddTransient<ShopInstallation>();
        services.AddSingleton<IWebhookHandler, AppUninstalled>();
        services.AddSingleton<IWebhookHandler, CustomerDataRequested>();
        services.AddSingleton<IWebhookHandler, CustomerRedacted>();
        services.AddSingleton<IWebhookHandler, ShopRedacted>();

        // Points: settings, earning from orders, the POS and its sync.
        services.AddOptions<SettingsOptions>().BindConfiguration(SettingsOptions.Section);
        services.AddOptions<OrderSweepOptions>().BindConfiguration(OrderSweepOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<OrderSweepOptions>, OrderSweepOptionsValidator>();
        services.AddOptions<PosSyncOptions>().BindConfiguration(PosSyncOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PosSyncOptions>, PosSyncOptionsValidator>();
        services.AddPosClient();
        services.AddOptions<PosClientOptions>().BindConfiguration(PosClientOptions.Section);
        services.AddOptions<NetworkGuardOptions>().BindConfiguration(NetworkGuardOptions.Section);
        services.AddSingleton<IWebhookHandler, OrderPaid>();
        services.AddSingleton<IWebhookHandler, RefundCreated>();
        services.AddSingleton<IWebhookHandler, OrderCancelled>();
        services.AddSingleton<PosSyncTrigger>();
        services.AddTransient<PosSyncJob>();
        services.AddTransient<MissedOrderSweep>();
        services.AddRecurringJob<PosSyncJob>(PosSyncJob.RecurringId, "* * * * *", j => j.DeliverDueAsync(CancellationToken.None));
        services.AddRecurringJob<MissedOrderSweep>(MissedOrderSweep.RecurringId, "*/15 * * * *", j => j.SweepAllAsync(CancellationToken.None));

        // Points -> coupon conversion.
        services.AddOptions<ConversionOptions>().BindConfiguration(ConversionOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ConversionOptions>, ConversionOptionsValidator>();
        services.AddSingleton<ConversionTrigger>();
        services.AddTransient<Loyalty.ShopifyApp.Infrastructure.Shopify.ShopifyDiscounts>();
        services.AddTransient<ConversionSaga>();
        services.AddTransient<ConversionReconciler>();
        services.AddRecurringJob<ConversionReconciler>(ConversionReconciler.RecurringId, "* * * * *", j => j.RunAsync(CancellationToken.None));
        services.AddTransient<OrphanCouponSweep>();
        services.AddRecurringJob<OrphanCouponSweep>(OrphanCouponSweep.RecurringId, "17 * * * *", j => j.SweepAllAsync(CancellationToken.None));
        services.AddTransient<DonationSettler>();
        services.AddHttpClient(SandboxPages.HttpClientName);

        // Merchant campaigns.
        services.AddOptions<CampaignOptions>().BindConfiguration(CampaignOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<CampaignOptions>, CampaignOptionsValidator>();
        services.AddTransient<CampaignGeneration>();

        // Events for the merchant's other systems.
        services.AddOptions<EventOptions>().BindConfiguration(EventOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<EventOptions>, EventOptionsValidator>();
        services.AddHttpClient(OutgoingEvents.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => NetworkGuard.CreateHandler(sp.GetRequiredService<IOptions<EventOptions>>().Value.AllowInsecureEndpoints,
                sp.GetRequiredService<IOptions<NetworkGuardOptions>>().Value, sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(NetworkGuard))))
            .AddHttpMessageHandler(sp => new ResponseSizeLimitHandler(sp.GetRequiredService<IOptions<EventOptions>>().Value.MaxResponseBytes));
        services.AddTransient<OutgoingEvents>();
        services.AddRecurringJob<OutgoingEvents>(OutgoingEvents.RecurringId, "* * * * *", j => j.DeliverDueAsync(CancellationToken.None));
        services.AddRecurringJob<DonationSettler>(DonationSettler.RecurringId, "* * * * *", j => j.RunAsync(CancellationToken.None));
        return builder;
    }

    public static WebApplication MapFeatures(this WebApplication app)
    {
        app.MapHealth();
        app.MapAuthorizationCodeGrant();
        app.MapWebhookIntake();
        app.MapStorefrontApi()
            .MapMyPage()
            .MapMyPoints()
            .MapFeedback()
            .MapConvertPoints()
            .MapCustomerCoupons()
            .MapDonate()
            .MapValidateCouponStorefront();

        app.MapAdminApi()
            .MapShopStatus()
            .MapWebhookDeliveries()
            .MapDataRequests()
            .MapSettings()
            .MapCustomerPoints()
            .MapCustomerCouponsAdmin()
            .MapPosSync()
            .MapConversionReview()
            .MapCouponIncidents()
            .MapDonationTotals()
            .MapCreateCampaign()
            .MapCampaignQueries()
            .MapValidateCouponAdmin()
            .MapCouponReports()
            .MapChangeCampaign()
            .MapResumeCampaign()
            .MapEventEndpoint()
            .MapDashboard();
        app.MapJobsDashboard();
        app.MapAdminPages();
        app.MapSandboxPages();
        return app;
    }
}
