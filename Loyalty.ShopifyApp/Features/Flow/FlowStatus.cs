namespace Loyalty.ShopifyApp.Features.Flow;

/// <summary>
/// <c>GET /api/admin/flow</c>: the shop's Flow triggers, whether a workflow of the shop uses each (as Shopify's lifecycle callback
/// last said), how many were sent, are waiting, were skipped or failed, and the latest failures with their reasons.
/// </summary>
public static class FlowStatus
{
    public sealed record TriggerView(string Handle, string Title, bool UsedByAWorkflow, DateTimeOffset? ChangedAt, long Pending, long Delivered,
        long Failed, long Skipped);

    public sealed record FailureView(long Id, string Handle, long? CustomerId, int Attempts, string? LastError, DateTimeOffset CreatedAt);

    public sealed record StatusView(IReadOnlyList<TriggerView> Triggers, IReadOnlyList<FailureView> RecentFailures);

    public static RouteGroupBuilder MapFlowStatus(this RouteGroupBuilder admin)
    {
        admin.MapGet("/flow", GetAsync);
        return admin;
    }

    private static async Task<StatusView> GetAsync(HttpContext http, NpgsqlDataSource db, CancellationToken ct)
    {
        var shop = http.User.Shop();
        await using var conn = await db.OpenConnectionAsync(ct);
        var usage = (await conn.QueryAsync<(string Trigger, bool Enabled, DateTimeOffset ChangedAt)>(new CommandDefinition(
            "SELECT trigger, enabled, changed_at FROM flow_trigger_usage WHERE shop_domain = @shop", new { shop }, cancellationToken: ct))).ToList();
        var counts = (await conn.QueryAsync<(string Handle, string State, long Count)>(new CommandDefinition(
            "SELECT handle, state, count(*) FROM flow_outbox WHERE shop_domain = @shop GROUP BY handle, state", new { shop },
            cancellationToken: ct))).ToList();
        long Count(FlowTrigger t, string state) => counts.Where(c => c.Handle == t.Handle && c.State == state).Sum(c => c.Count);
        var triggers = FlowTrigger.All.Select(t =>
        {
            var said = usage.Where(u => u.Trigger == t.Handle || u.Trigger == t.Title).OrderByDescending(u => u.ChangedAt).FirstOrDefault();
            return new TriggerView(t.Handle, t.Title, said.Enabled, said.Trigger is null ? null : said.ChangedAt, Count(t, "pending"),
                Count(t, "delivered"), Count(t, "failed"), Count(t, "skipped"));
        }).ToList();
        var failures = (await conn.QueryAsync<FailureView>(new CommandDefinition("""
            SELECT id, handle, customer_id, attempts, last_error, created_at FROM flow_outbox
            WHERE shop_domain = @shop AND state = 'failed' ORDER BY id DESC LIMIT 20
            """, new { shop }, cancellationToken: ct))).ToList();
        return new StatusView(triggers, failures);
    }
}
