using Loyalty.ShopifyApp.Features.Webhooks;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>
/// <c>orders/paid</c> for many orders at once (<see cref="OrderEarnings.AwardSetAsync"/>): the plain ones, which used no discount code
/// and whose order nothing decided yet. The rest go one by one, as <see cref="HandleAsync"/> handles them.
/// </summary>
public sealed partial class OrderPaid : IWebhookSetHandler
{
    public async Task HandleSetAsync(WebhookSet set, CancellationToken ct)
    {
        var orders = set.Deliveries.Select(d => (Delivery: d, Order: Plain(d))).Where(x => x.Order is not null)
            .Select(x => (x.Delivery, Order: x.Order!)).ToList();
        if (orders.Count < 2) return;
        var settings = await set.SettingsAsync(ct);
        var prepared = await OrderEarnings.PrepareSetAsync(set.Connection, set.Transaction, set.ShopDomain, [.. orders.Select(x => x.Order)],
            settings, ct);
        if (prepared.Orders.Count == 0) return;

        var deliveryOf = orders.ToDictionary(x => x.Order.OrderId, x => x.Delivery);
        var owned = (await set.FenceAsync([.. prepared.Orders.Select(o => deliveryOf[o.Order.OrderId])], ct)).ToDictionary(c => c.Delivery.Id);
        var ours = prepared with { Orders = [.. prepared.Orders.Where(o => owned.ContainsKey(deliveryOf[o.Order.OrderId].Id))] };
        var outcomes = await OrderEarnings.AwardSetAsync(set.Connection, set.Transaction, set.ShopDomain, ours, settings, "webhook",
            programClock.Now, ct);
        foreach (var ((order, _), outcome) in ours.Orders.Zip(outcomes)) Report(owned[deliveryOf[order.OrderId].Id], order, outcome, settings);
    }

    /// <summary>The delivery's order if it can join a set: readable, naming the customer and order intake read from it, no code used.</summary>
    private OrderFacts? Plain(WebhookDelivery delivery)
    {
        try
        {
            var order = ReadOrder(delivery);
            return order.CustomerId == delivery.CustomerId && order.OrderId == delivery.OrderId && (order.DiscountCodes?.Count ?? 0) == 0
                ? order
                : null;
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            return null; // one by one, where the failure is recorded
        }
    }
}
