using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// The soak's operations, drawn from the seed before the load starts: conversions (replays, clicks again after a 503,
/// cancellations, checkouts using the code with or without their webhook, cancellations after or racing a checkout)
/// and paid orders (amounts with cents, some paid in another currency; duplicates, refunds before or after, cancellations;
/// in POS mode, points spent at the till before a refund). Each draw happens here, in a fixed order, so a
/// seed always means the same schedule.
/// </summary>
public static class SoakSchedule
{
    /// <summary>The exchange rate of the orders paid in US dollars (the shop's currency is the euro).</summary>
    public const decimal UsdPerEur = 1.0837m;

    public static List<Func<Task>> Build(Soak.Options o, Random random, List<long> customers, SoakClient client, SoakRecord record,
        CancellationToken ct)
    {
        var hot = customers.Take(Math.Max(2, o.Customers / 20)).ToList();
        // POS mode: a few customers spend their points at the store's till (below) and take no other part in the load, so nothing
        // else reaches the POS between their spend and the refund it must refuse. Not with a pending period (no award reaches the
        // POS during the run), nor in a run that ends past expiry (the POS would refuse the expiry of points spent at the till: a
        // documented limit). Never the witness of the balance-source switch attempts, nor a customer unknown to the POS.
        if (record.PosMode && record.PendingDays == 0 && record.ExpiryMonths == 0)
        {
            foreach (var c in customers.Skip(hot.Count).SkipLast(1).Where(c => !record.UnknownToPos.Contains(c)).OrderBy(_ => random.Next())
                .Take(Math.Max(2, customers.Count / 20)).ToList()) record.StoreSpenders.Add(c);
        }
        var others = customers.Where(c => !record.StoreSpenders.Contains(c)).ToList();
        var ops = new List<Func<Task>>();
        long nextRedemption = 80_000_000;
        for (var k = 0; k < o.Conversions; k++)
        {
            var customer = random.NextDouble() < 0.4 ? hot[random.Next(hot.Count)] : others[random.Next(others.Count)];
            var points = random.Next(1, 6) * 100L;
            var key = $"soak-{o.Seed}-{k}";
            var replay = random.NextDouble() < 0.1;
            var cancel = random.NextDouble() < 0.05;
            var redeem = random.NextDouble() < 0.15;
            var race = random.NextDouble() < 0.04;
            var dropWebhook = random.NextDouble() < 0.3;
            var cancelAfterRedeem = random.NextDouble() < 0.5;
            var raceDelayMs = random.Next(0, 40);
            var orderId = nextRedemption++;
            var orderAmount = random.Next(2000, 20000) / 100m;
            var appliedLate = random.NextDouble() < 0.05;
            record.Demand.AddOrUpdate(customer, 3 * points, (_, d) => d + 3 * points); // the attempt and two clicks again
            ops.Add(async () =>
            {
                if (appliedLate) client.ShopifyAppliesNextLate(); // a 500 for a creation Shopify then applies: settled by lookup, never doubled
                var shown = await client.ConvertAsync(customer, points, key, replay: false, ct);
                if (replay) await client.ConvertAsync(customer, points, key, replay: true, ct); // the same key again: never a second conversion
                for (var attempt = 1; shown is null && attempt <= 2 && client.LastWasUnavailable(key); attempt++)
                {
                    record.Count("conversion clicked again after a 503 (a new attempt)");
                    shown = await client.ConvertAsync(customer, points, $"{key}-again{attempt}", replay: false, ct);
                }
                if (shown is null) return;
                if (cancel)
                {
                    await client.CancelAsync(shown, afterRedeem: false, raced: false, ct);
                }
                else if (race)
                {
                    // A checkout uses the code while the customer cancels it: either may win, never both.
                    await Task.WhenAll(
                        client.CancelAsync(shown, afterRedeem: false, raced: true, ct),
                        Task.Run(async () =>
                        {
                            await Task.Delay(raceDelayMs, ct);
                            await client.RedeemAsync(shown, orderId, orderAmount, dropWebhook, ct);
                        }, ct));
                }
                else if (redeem && await client.RedeemAsync(shown, orderId, orderAmount, dropWebhook, ct) && cancelAfterRedeem)
                {
                    await client.CancelAsync(shown, afterRedeem: true, raced: false, ct); // must be refused: the coupon was used
                }
            });
        }

        long nextOrder = 70_000_000;
        for (var k = 0; k < o.Orders; k++)
        {
            var order = nextOrder++;
            var customer = others[random.Next(others.Count)];
            var amount = random.Next(1000, 30000) / 100m; // in the shop's currency (EUR), with cents
            // Three in ten customers pay in US dollars: the order carries both amounts, its refunds are in dollars.
            var presentment = random.NextDouble() < 0.3 ? new ShopifyOutbound.Presentment(decimal.Round(amount * UsdPerEur, 2), "USD") : null;
            var paidAmount = presentment?.Total ?? amount;
            var duplicate = random.NextDouble() < 0.2;
            var refund = random.NextDouble() < 0.1 ? random.Next(1, (int)(paidAmount * 100)) / 100m : 0;
            var cancelled = random.NextDouble() < 0.05;
            var refundFirst = refund > 0 && random.NextDouble() < 0.3;
            record.Orders[order] = new SoakRecord.Order(customer, amount, paidAmount, refund, cancelled, null, 0);
            ops.Add(async () =>
            {
                record.Orders[order] = record.Orders[order] with { Rate = record.EarnRate };
                var paid = ShopifyOutbound.PaidOrder(order, customer, amount, amount, presentment: presentment);
                var paidId = Guid.NewGuid().ToString();
                if (refundFirst) await client.WebhookAsync("refunds/create", ShopifyOutbound.Refund(order * 10, order, refund), null, ct);
                await client.WebhookAsync("orders/paid", paid, paidId, ct);
                if (duplicate) await client.WebhookAsync("orders/paid", paid, paidId, ct);
                if (refund > 0 && !refundFirst) await client.WebhookAsync("refunds/create", ShopifyOutbound.Refund(order * 10, order, refund), null,
                    ct);
                if (cancelled) await client.WebhookAsync("orders/cancelled",
                    ShopifyOutbound.PaidOrder(order, customer, amount, amount, cancelled: true, presentment: presentment), null, ct);
            });
        }

        // POS mode: the till spenders spend all their points at the store's till right after an order's award reached the POS, and
        // the order is then refunded in full: the POS refuses the clawback (the points are spent), which must block nothing else of
        // theirs and leave exactly that drift.
        foreach (var customer in record.StoreSpenders.Order().ToList())
        {
            for (var k = 0; k < 2; k++)
            {
                var order = nextOrder++;
                var amount = random.Next(1000, 30000) / 100m;
                record.Orders[order] = new SoakRecord.Order(customer, amount, amount, amount, false, null, 0);
                ops.Add(async () =>
                {
                    record.Orders[order] = record.Orders[order] with { Rate = record.EarnRate };
                    await client.WebhookAsync("orders/paid", ShopifyOutbound.PaidOrder(order, customer, amount, amount), null, ct);
                    var spent = await client.SpendAllInStoreOnceAwardedAsync(customer, order, ct);
                    record.Count(spent > 0 ? "POS: points spent at the till, then the order refunded in full"
                        : "POS: the award did not reach the POS within a minute, nothing spent at the till");
                    await client.WebhookAsync("refunds/create", ShopifyOutbound.Refund(order * 10, order, amount), null, ct);
                });
            }
        }
        return ops.OrderBy(_ => random.Next()).ToList();
    }
}
