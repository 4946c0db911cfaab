using Loyalty.Sandbox;
using Loyalty.ShopifyApp.Features.Flow;
using Microsoft.AspNetCore.Hosting.Server;

namespace Loyalty.ShopifyApp.Sandbox;

/// <summary>
/// <c>POST /sandbox/flow { trigger, enabled }</c>: the demo merchant turns on (or off) a Shopify Flow workflow using one of the
/// app's triggers, which Shopify tells the app with its signed lifecycle callback (sent here to <c>/flow/lifecycle</c>, as
/// Shopify would); <c>GET /sandbox/flow</c>: which triggers a workflow uses and the latest triggers the Shopify simulator's Flow
/// accepted.
/// </summary>
public static partial class SandboxPages
{
    public sealed record FlowRequest(string? Trigger, bool? Enabled);

    public sealed record FlowTriggerState(string Handle, string Title, bool UsedByAWorkflow);

    public sealed record FlowRun(string Handle, string Payload, DateTimeOffset At);

    public sealed record FlowState(IReadOnlyList<FlowTriggerState> Triggers, IReadOnlyList<FlowRun> Received);

    private static RouteGroupBuilder MapSandboxFlow(this RouteGroupBuilder sandbox)
    {
        sandbox.MapGet("/flow", FlowStateAsync);
        sandbox.MapPost("/flow", SetWorkflowAsync);
        return sandbox;
    }

    private static async Task<FlowState> FlowStateAsync(NpgsqlDataSource db, SandboxSimulators simulators, IOptions<SandboxOptions> o,
        CancellationToken ct)
    {
        var shop = o.Value.DemoShop;
        await using var conn = await db.OpenConnectionAsync(ct);
        var on = (await conn.QueryAsync<string>(new CommandDefinition(
            "SELECT trigger FROM flow_trigger_usage WHERE shop_domain = @shop AND enabled", new { shop }, cancellationToken: ct))).ToHashSet();
        var received = (simulators.Shopify?.FlowTriggersReceived ?? []).Where(r => r.Shop == shop).TakeLast(10).Reverse()
            .Select(r => new FlowRun(r.Handle, r.PayloadJson, r.At)).ToList();
        return new FlowState(FlowTrigger.All.Select(t => new FlowTriggerState(t.Handle, t.Title, on.Contains(t.Handle) || on.Contains(t.Title)))
            .ToList(), received);
    }

    private static async Task<Results<Ok<FlowTriggerState>, ProblemHttpResult>> SetWorkflowAsync(FlowRequest request, IOptions<SandboxOptions> o,
        IOptions<ShopifyOptions> shopify, IHttpClientFactory clients, IServer server, ILoggerFactory loggers, CancellationToken ct)
    {
        var trigger = FlowTrigger.All.FirstOrDefault(t => t.Handle == request.Trigger);
        if (trigger is null || request.Enabled is not { } enabled)
        {
            return Problems.Validation("invalid_trigger",
                $"trigger is one of {string.Join(", ", FlowTrigger.All.Select(t => t.Handle))}, and enabled true or false.");
        }
        using var callback = ShopifyOutbound.FlowLifecycle(new Uri(SelfBase(server), "/flow/lifecycle"), o.Value.DemoShop, trigger.Handle, enabled,
            DateTimeOffset.UtcNow, shopify.Value.ApiSecret);
        using var response = await clients.CreateClient(HttpClientName).SendAsync(callback, ct);
        LogWorkflow(loggers.CreateLogger(typeof(SandboxPages)), trigger.Handle, enabled, (int)response.StatusCode);
        return response.IsSuccessStatusCode
            ? TypedResults.Ok(new FlowTriggerState(trigger.Handle, trigger.Title, enabled))
            : Problems.Create(StatusCodes.Status502BadGateway, "lifecycle_refused", $"/flow/lifecycle answered {(int)response.StatusCode}.");
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "SANDBOX: a Flow workflow using {Trigger} turned on: {Enabled} (the app answered {Status})")]
    private static partial void LogWorkflow(ILogger logger, string trigger, bool enabled, int status);
}
