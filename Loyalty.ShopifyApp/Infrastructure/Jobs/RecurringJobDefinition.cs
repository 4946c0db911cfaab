using Hangfire;

namespace Loyalty.ShopifyApp.Infrastructure.Jobs;

/// <summary>
/// A recurring job the app schedules: its id, its schedule unless <c>Jobs:Schedules:{id}</c> says otherwise, and what it
/// runs. Registered through <see cref="JobsExtensions.AddRecurringJob{T}"/>.
/// </summary>
public sealed record RecurringJobDefinition(string Id, string DefaultCron, Action<IRecurringJobManager, string> Register);
