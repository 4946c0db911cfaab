using Loyalty.ShopifyApp.Infrastructure.Jobs;

namespace Loyalty.ShopifyApp.Features.PosSync;

public static class PosSyncFeature
{
    /// <summary>
    /// The POS client (sections <c>Pos</c> and <c>NetworkGuard</c>; the guard's deny-list also covers event endpoints) and the
    /// outbox that carries the ledger to the POS: woken by <see cref="PosSyncTrigger"/>, with a schedule as the safety net. The
    /// instances share their POS circuits' breaks in the database (<see cref="SharedPosCircuits"/>).
    /// </summary>
    public static IServiceCollection AddPosSync(this IServiceCollection services)
    {
        services.AddValidatedOptions<PosSyncOptions, PosSyncOptionsValidator>(PosSyncOptions.Section);
        services.AddSingleton<IPosCircuitBoard, SharedPosCircuits>();
        services.AddPosClient();
        services.AddOptions<PosClientOptions>().BindConfiguration(PosClientOptions.Section);
        services.AddOptions<NetworkGuardOptions>().BindConfiguration(NetworkGuardOptions.Section);
        services.AddSingleton<PosSyncTrigger>();
        services.AddTransient<PosSyncJob>();
        services.AddRecurringJob<PosSyncJob>(PosSyncJob.RecurringId, "* * * * *", j => j.DeliverDueAsync(CancellationToken.None));
        return services;
    }
}
