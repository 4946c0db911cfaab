using Loyalty.ShopifyApp.Features.Campaigns;
using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Events;
using Loyalty.ShopifyApp.Features.Install;
using Loyalty.ShopifyApp.Features.Points;
using Loyalty.ShopifyApp.Features.PosSync;
using Loyalty.ShopifyApp.Features.Storefront;
using Loyalty.ShopifyApp.Features.Webhooks;
using Loyalty.ShopifyApp.Infrastructure.Jobs;
using Microsoft.Extensions.Options;

namespace Loyalty.Tests.Features;

/// <summary>The rules of each feature's section at their edges: what start-up accepts, and what it refuses naming the setting.</summary>
public sealed class OptionsRulesTests
{
    [Fact]
    public void The_defaults_of_every_section_are_accepted()
    {
        Assert.True(new WebhookOptionsValidator().Validate(null, new WebhookOptions()).Succeeded);
        Assert.True(new OrderSweepOptionsValidator().Validate(null, new OrderSweepOptions()).Succeeded);
        Assert.True(new PosSyncOptionsValidator().Validate(null, new PosSyncOptions()).Succeeded);
        Assert.True(new ConversionOptionsValidator().Validate(null, new ConversionOptions()).Succeeded);
        Assert.True(new CampaignOptionsValidator().Validate(null, new CampaignOptions()).Succeeded);
        Assert.True(new EventOptionsValidator().Validate(null, new EventOptions()).Succeeded);
        Assert.True(new StorefrontOptionsValidator().Validate(null, new StorefrontOptions()).Succeeded);
        Assert.True(new JobsOptionsValidator().Validate(null, new JobsOptions()).Succeeded);
        Assert.True(new TokenRefreshOptionsValidator().Validate(null, new TokenRefreshOptions()).Succeeded);
    }

    [Fact]
    public void Counts_and_sizes_are_refused_past_their_bounds_naming_the_setting_and_its_range()
    {
        Refused(new WebhookOptionsValidator(), new WebhookOptions { BatchSize = 1001 }, "Webhooks:BatchSize must be 1-1000");
        Accepted(new WebhookOptionsValidator(), new WebhookOptions { BatchSize = 1000, IntakeGroupWaitMs = 0 });
        Refused(new WebhookOptionsValidator(), new WebhookOptions { IntakeGroupWaitMs = -1 }, "Webhooks:IntakeGroupWaitMs must be 0-1000");
        Refused(new WebhookOptionsValidator(), new WebhookOptions { Parallelism = 2, BusyIntakeParallelism = 3 },
            "Webhooks:BusyIntakeParallelism (3) must not be more than Webhooks:Parallelism (2)");
        Accepted(new WebhookOptionsValidator(), new WebhookOptions { Parallelism = 2, BusyIntakeParallelism = 2, BusyIntakeDeliveries = 0 });
        Refused(new OrderSweepOptionsValidator(), new OrderSweepOptions { PageSize = 61 }, "OrderSweep:PageSize must be 1-60");
        Refused(new PosSyncOptionsValidator(), new PosSyncOptions { LeaseSeconds = 0 }, "PosSync:LeaseSeconds must be positive");
        Refused(new ConversionOptionsValidator(), new ConversionOptions { MetafieldMaxEntries = 201 },
            "Conversion:MetafieldMaxEntries must be 1-200");
        Refused(new CampaignOptionsValidator(), new CampaignOptions { BulkMaxPolls = 0 }, "Campaigns:BulkMaxPolls must be positive");
        Refused(new StorefrontOptionsValidator(), new StorefrontOptions { ShopRequestLimit = 10_000_001 },
            "Storefront:ShopRequestLimit must be 1-10,000,000");
        Refused(new JobsOptionsValidator(), new JobsOptions { DistributedLockTimeoutSeconds = 9 },
            "Jobs:DistributedLockTimeoutSeconds must be at least 10");
        Accepted(new JobsOptionsValidator(), new JobsOptions { DistributedLockTimeoutSeconds = 10 });
        Refused(new TokenRefreshOptionsValidator(), new TokenRefreshOptions { SpreadSeconds = 3601 }, "TokenRefresh:SpreadSeconds must be 0-3600");
        Refused(new TokenRefreshOptionsValidator(), new TokenRefreshOptions { MarginSeconds = -1 }, "TokenRefresh:MarginSeconds must be 0-3600");
    }

    [Fact]
    public void Durations_in_seconds_keep_their_bounds_to_the_fraction()
    {
        Accepted(new ConversionOptionsValidator(), new ConversionOptions { RequestShopifyWaitSeconds = 30 });
        Refused(new ConversionOptionsValidator(), new ConversionOptions { RequestShopifyWaitSeconds = 30.5 },
            "Conversion:RequestShopifyWaitSeconds must be 0-30");
        Refused(new StorefrontOptionsValidator(), new StorefrontOptions { WindowSeconds = 0.5 }, "Storefront:WindowSeconds must be 1-3600");
        Refused(new PosSyncOptionsValidator(), new PosSyncOptions { RetryBaseDelaySeconds = -0.1 },
            "PosSync:RetryBaseDelaySeconds must be 0 or more");
        Accepted(new PosSyncOptionsValidator(), new PosSyncOptions { RetryBaseDelaySeconds = double.PositiveInfinity });
        Refused(new EventOptionsValidator(), new EventOptions { TimeoutSeconds = 0 }, "Events:TimeoutSeconds must be more than 0 and at most 120");
        Refused(new EventOptionsValidator(), new EventOptions { TimeoutSeconds = 120.5, MaxRunSeconds = 300 }, "Events:TimeoutSeconds");
    }

    [Fact]
    public void An_event_run_must_leave_time_for_one_attempt_and_last_at_most_ten_minutes()
    {
        Accepted(new EventOptionsValidator(), new EventOptions { TimeoutSeconds = 20, MaxRunSeconds = 20 });
        Refused(new EventOptionsValidator(), new EventOptions { TimeoutSeconds = 20, MaxRunSeconds = 19.9 },
            "Events:MaxRunSeconds must be at least Events:TimeoutSeconds");
        Accepted(new EventOptionsValidator(), new EventOptions { MaxRunSeconds = 600 });
        Refused(new EventOptionsValidator(), new EventOptions { MaxRunSeconds = 600.5 }, "at most 600");
    }

    private static void Accepted<T>(IValidateOptions<T> validator, T options) where T : class =>
        Assert.Empty(validator.Validate(null, options).Failures ?? []);

    private static void Refused<T>(IValidateOptions<T> validator, T options, string message) where T : class
    {
        var failures = validator.Validate(null, options).Failures ?? [];
        Assert.Contains(failures, f => f.Contains(message, StringComparison.Ordinal));
    }
}
