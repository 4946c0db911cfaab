using Loyalty.ShopifyApp.Features.Campaigns;
using Loyalty.ShopifyApp.Features.Conversion;
using Loyalty.ShopifyApp.Features.Pending;
using Loyalty.ShopifyApp.Features.PosSync;
using Loyalty.ShopifyApp.Features.Webhooks;
using Loyalty.ShopifyApp.Infrastructure.Telemetry;

namespace Loyalty.ShopifyApp.Features.Points;

/// <summary><c>orders/paid</c>: award floor(amount × rate) once per order, and mark loyalty coupons it used as used.</summary>
public sealed partial class OrderPaid(PosSyncTrigger posSync, LoyaltyMetrics metrics, TimeProvider clock, ProgramClock programClock,
    ILogger<OrderPaid> logger)
    : IWebhookHandler
{
    public string Topic => "orders/paid";

    public bool RunsForUninstalledShops => false;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var shop = context.Delivery.ShopDomain;
        var order = ReadOrder(context.Delivery);
        var settings = await context.SettingsAsync(ct);
        var outcome = await OrderEarnings.AwardAsync(context.Connection, context.Transaction, shop, order, settings, "webhook", programClock.Now,
            ct);
        var codes = order.DiscountCodes ?? [];
        await CouponUse.MarkUsedAsync(context.Connection, context.Transaction, shop, order.OrderId, codes.Select(d => d.Code).ToList(), "webhook",
            logger, ct);
        await CouponRedemptions.RecordAsync(context.Connection, context.Transaction, shop, order, ct);
        Report(context, order, outcome, settings);
    }

    /// <summary>The delivery's order, priced at its payment: Shopify triggers orders/paid when the order is paid (for a pay-later order,
    /// days after it was processed).</summary>
    private OrderFacts ReadOrder(WebhookDelivery delivery)
    {
        var order = OrderPayloads.Order(delivery.Payload!);
        return order with { PaidAt = OrderPayloads.PaidAt(delivery.TriggeredAt, order.ProcessedAt, order.UpdatedAt, clock.GetUtcNow()) };
    }

    /// <summary>The log line, and after the commit the metric and the POS sync.</summary>
    private void Report(WebhookContext context, OrderFacts order, OrderEarnings.Outcome outcome, ShopSettings settings)
    {
        var shop = context.Delivery.ShopDomain;
        if (outcome.Status == "awarded")
        {
            var points = outcome.Points;
            context.AfterCommit.Add(() => metrics.Awarded(points, "webhook"));
            if (outcome.PendingUntil is { } until)
            {
                LogAwardedPending(shop, order.OrderId, order.CustomerId, points, settings.EarnRate, until);
                return;
            }
            LogAwarded(shop, order.OrderId, order.CustomerId, points, settings.EarnRate);
            if (settings.PosMode) context.AfterCommit.Add(posSync.Notify);
        }
        else
        {
            LogNotAwarded(shop, order.OrderId, outcome.Status, outcome.Reason);
        }
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Awarded {Points} points to customer {CustomerId} of {Shop} for order {OrderId} at rate {Rate}")]
    private partial void LogAwarded(string shop, long orderId, long? customerId, long points, decimal rate);

    [LoggerMessage(Level = LogLevel.Information, Message =
        "Awarded {Points} points to customer {CustomerId} of {Shop} for order {OrderId} at rate {Rate}, pending until {PendingUntil}")]
    private partial void LogAwardedPending(string shop, long orderId, long? customerId, long points, decimal rate, DateTimeOffset pendingUntil);

    [LoggerMessage(Level = LogLevel.Information, Message = "No points for order {OrderId} of {Shop}: {Status} ({Reason})")]
    private partial void LogNotAwarded(string shop, long orderId, string status, string? reason);
}

/// <summary><c>refunds/create</c>: take back the refunded share of the order's award, once per refund.</summary>
public sealed partial class RefundCreated(PosSyncTrigger posSync, ProgramClock programClock, ILogger<RefundCreated> logger) : IWebhookHandler
{
    public string Topic => "refunds/create";

    public bool RunsForUninstalledShops => false;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var shop = context.Delivery.ShopDomain;
        var refund = OrderPayloads.Refund(context.Delivery.Payload!);
        var settings = await context.SettingsAsync(ct);
        var outcome = await OrderEarnings.RefundAsync(context.Connection, context.Transaction, shop, refund.OrderId, refund.RefundId,
            refund.Amount, settings, programClock.Now, ct);
        if (settings.PosMode && outcome.Status == "clawed_back" && outcome.Points != 0) context.AfterCommit.Add(posSync.Notify);
        LogRefund(shop, refund.RefundId, refund.OrderId, refund.Amount, outcome.Status, outcome.Points, outcome.Reason);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Refund {RefundId} of {Amount} on order {OrderId} of {Shop}: {Status}, {Points} points ({Reason})")]
    private partial void LogRefund(string shop, long refundId, long orderId, decimal amount, string status, long points, string? reason);
}

/// <summary><c>orders/cancelled</c>: reverse what is left of the order's award, once.</summary>
public sealed partial class OrderCancelled(PosSyncTrigger posSync, ProgramClock programClock, ILogger<OrderCancelled> logger) : IWebhookHandler
{
    public string Topic => "orders/cancelled";

    public bool RunsForUninstalledShops => false;

    public async Task HandleAsync(WebhookContext context, CancellationToken ct)
    {
        var shop = context.Delivery.ShopDomain;
        var order = OrderPayloads.Order(context.Delivery.Payload!);
        var settings = await context.SettingsAsync(ct);
        var outcome = await OrderEarnings.CancelAsync(context.Connection, context.Transaction, shop, order.OrderId, order.Name, settings,
            programClock.Now, ct);
        if (settings.PosMode && outcome.Status == "cancelled" && outcome.Points != 0) context.AfterCommit.Add(posSync.Notify);
        LogCancelled(shop, order.OrderId, outcome.Status, outcome.Points);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Order {OrderId} of {Shop} cancelled: {Status}, {Points} points")]
    private partial void LogCancelled(string shop, long orderId, string status, long points);
}
