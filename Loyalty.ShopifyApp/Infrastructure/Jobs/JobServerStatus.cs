namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>This instance's Hangfire server, as its readiness check looks for it: none until one is started.</summary>
public sealed class JobServerStatus
{
    public string? Name { get; internal set; }

    public DateTimeOffset? StartedAt { get; internal set; }
}
