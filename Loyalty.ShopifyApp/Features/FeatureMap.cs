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

namespace Loyalty.ShopifyApp.Features;

public static class FeatureMap
{
    /// <summary>Services of every feature: webhook topic handlers, background workers, feature services.</summary>
    public static IHostApplicationBuilder AddFeatures(this IHostApplicationBuilder builder)
    {
        var services = builder.Services;
        services.AddReadinessChecks();
        services.AddOptions<WebhookOptions>().BindConfiguration(WebhookOptions.Section)
            .Validate(o => o.MaxBodyBytes > 0 && o.MaxAttempts > 0 && o.LeaseSeconds > 0 && o.BatchSize is > 0 and <= 1000 && o.PollIntervalMs > 0
                           && o.Parallelism is > 0 and <= 64 && o.IntakeWriters is > 0 and <= 16 && o.IntakeGroupMaxRows is > 0 and <= 1000
                           && o.IntakeGroupWaitMs is >= 0 and <= 1000,
                "Webhooks: MaxBodyBytes, MaxAttempts, LeaseSeconds and PollIntervalMs must be positive, BatchSize 1-1000, Parallelism 1-64, "
                + "IntakeWriters 1-16, IntakeGroupMaxRows 1-1000 and IntakeGroupWaitMs 0-1000.")
            .ValidateOnStart();
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
        services.AddOptions<SettingsOptions>().BindConfiguration("Settings");
        services.AddOptions<OrderSweepOptions>().BindConfiguration("OrderSweep")
            .Validate(o => o.PageSize is > 0 and <= 250 && o.MaxPages > 0 && o.OverlapMinutes >= 0, "OrderSweep: PageSize 1-250, MaxPages > 0.")
            .ValidateOnStart();
        services.AddOptions<PosSyncOptions>().BindConfiguration(PosSyncOptions.Section)
            .Validate(o => o.MaxAttempts > 0 && o.BatchSize > 0 && o.LeaseSeconds > 0 && o.RetryBaseDelaySeconds >= 0,
                "PosSync: MaxAttempts, BatchSize and LeaseSeconds must be positive.")
            .ValidateOnStart();
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
        services.AddOptions<ConversionOptions>().BindConfiguration(ConversionOptions.Section)
            .Validate(o => o.LeaseSeconds > 0 && o.SettleAfterSeconds >= 0 && o.RetryDelaySeconds >= 0 && o.MetafieldAttempts > 0 && o.ReconcilerBatchSize > 0
                      && o.ReconcilerParallelism is > 0 and <= 64,
                "Conversion: LeaseSeconds, MetafieldAttempts and ReconcilerBatchSize must be positive, ReconcilerParallelism 1-64.")
            .Validate(o => o.MetafieldMaxEntries is > 0 and <= 200 && o.MetafieldRecentDays >= 0 && o.MetafieldMaxFailures > 0 && o.MetafieldLateWriteSeconds >= 0,
                "Conversion: MetafieldMaxEntries must be 1-200, MetafieldRecentDays and MetafieldLateWriteSeconds 0 or more, MetafieldMaxFailures positive.")
            .Validate(o => o.RequestShopifyWaitSeconds is >= 0 and <= 30 && o.ShopifyQueueTimeoutSeconds > 0,
                "Conversion: RequestShopifyWaitSeconds must be 0-30 and ShopifyQueueTimeoutSeconds positive.")
            .ValidateOnStart();
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
        services.AddOptions<CampaignOptions>().BindConfiguration("Campaigns")
            .Validate(o => o.BulkPollIntervalMs >= 0 && o.BulkMaxPolls > 0, "Campaigns: BulkMaxPolls must be positive.")
            .Validate(o => o.RequestShopifyWaitSeconds is >= 0 and <= 30 && o.ResumeDelaySeconds >= 0,
                "Campaigns: RequestShopifyWaitSeconds must be 0-30 and ResumeDelaySeconds not negative.")
            .ValidateOnStart();
        services.AddTransient<CampaignGeneration>();

        // Events for the merchant's other systems.
        services.AddOptions<EventOptions>().BindConfiguration("Events")
            .Validate(o => o.MaxAttempts > 0 && o.TimeoutSeconds > 0, "Events: MaxAttempts and TimeoutSeconds must be positive.")
            .Validate(o => o.LimitsValid(), EventOptions.LimitsRule)
            .Validate(o => o.RunValid(), EventOptions.RunRule)
            .Validate(o => o.MaxResponseBytes is >= 1024 and <= 16 * 1024 * 1024, "Events: MaxResponseBytes must be between 1024 and 16777216.")
            .ValidateOnStart();
        services.AddHttpClient(OutgoingEvents.HttpClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => NetworkGuard.CreateHandler(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<EventOptions>>().Value.AllowInsecureEndpoints,
                sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<NetworkGuardOptions>>().Value, sp.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(NetworkGuard))))
            .AddHttpMessageHandler(sp => new ResponseSizeLimitHandler(sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<EventOptions>>().Value.MaxResponseBytes));
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
