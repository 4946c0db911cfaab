using Loyalty.ShopifyApp.Features.Admin;
using Loyalty.ShopifyApp.Features.Campaigns;
using Loyalty.ShopifyApp.Features.Compliance;
using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Dashboard;
using Loyalty.ShopifyApp.Features.Donations;
using Loyalty.ShopifyApp.Features.Events;
using Loyalty.ShopifyApp.Features.Expiry;
using Loyalty.ShopifyApp.Features.Flow;
using Loyalty.ShopifyApp.Features.Health;
using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.PosSync;
using Loyalty.ShopifyApp.Features.Storefront;
using Loyalty.ShopifyApp.Features.Storefront.MyPage;
using Loyalty.ShopifyApp.Features.Tiers;
using Loyalty.ShopifyApp.Features.Webhooks;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Loyalty.ShopifyApp.Sandbox;

namespace Loyalty.ShopifyApp.Features;

/// <summary>What the product does, one feature a line: each registers its own options, services and jobs beside its code.</summary>
public static class FeatureMap
{
    public static IHostApplicationBuilder AddFeatures(this IHostApplicationBuilder builder)
    {
        builder.Services
            .AddReadinessChecks()   // /health/ready: database, migrations, this instance's job server
            .AddWebhooks()          // intake and processing of Shopify's webhooks; topic handlers come with their features
            .AddStorefrontLimits()  // rate limits of the storefront (app proxy)
            .AddInstall()           // installing a shop, its uninstall, and refreshing its token ahead of expiry
            .AddCompliance()        // Shopify's compliance (GDPR) webhooks
            .AddSettings()          // what a shop's settings may hold
            .AddPoints()            // earning from orders, and the sweep for orders whose webhook was missed
            .AddPending()           // an order's points wait out the shop's pending period, then are released
            .AddExpiry()            // points expire under the shop's rule (per lot, or after inactivity)
            .AddTiers()             // VIP tiers: a multiplier for good customers, reviewed daily
            .AddPosSync()           // the POS client and the outbox that carries the ledger to it
            .AddConversion()        // points to coupons
            .AddDonations()         // donating points
            .AddCampaigns()         // merchant coupon campaigns
            .AddEvents()            // events for the merchant's other systems
            .AddFlow();             // Shopify Flow triggers, for the shops whose workflows use them
        return builder;
    }

    public static WebApplication MapFeatures(this WebApplication app)
    {
        app.MapHealth();
        app.MapAuthorizationCodeGrant();
        app.MapWebhookIntake();
        app.MapFlowLifecycle();
        app.MapStorefrontApi()
            .MapMyPage()
            .MapMyPoints()
            .MapFeedback()
            .MapConvertPoints()
            .MapCustomerCoupons()
            .MapDonate()
            .MapMyRedemptions()
            .MapValidateCouponStorefront();

        app.MapAdminApi()
            .MapShopStatus()
            .MapWebhookDeliveries()
            .MapDataRequests()
            .MapSettings()
            .MapCustomerPoints()
            .MapTiers()
            .MapCustomerTier()
            .MapPointTransactions()
            .MapCustomerCouponsAdmin()
            .MapPosSync()
            .MapConversionReview()
            .MapCouponIncidents()
            .MapDonationTotals()
            .MapCreateCampaign()
            .MapCampaignQueries()
            .MapValidateCouponAdmin()
            .MapCouponReports()
            .MapCodeUsage()
            .MapEditCampaign()
            .MapChangeCampaign()
            .MapResumeCampaign()
            .MapEventEndpoint()
            .MapFlowStatus()
            .MapDashboard();
        app.MapJobsDashboard();
        app.MapAdminPages();
        app.MapSandboxPages();
        return app;
    }
}
