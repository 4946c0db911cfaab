using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Loyalty.Sandbox;

namespace Loyalty.Bench;

/// <summary>
/// Talks to the app instances like browsers and Shopify do (a lost connection is re-sent, same key, to the next
/// instance), and writes into the <see cref="SoakRecord"/> what each customer was shown and what was sent.
/// </summary>
public sealed partial class SoakClient(BenchEnvironment env, SoakRecord record) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 256, ConnectTimeout = TimeSpan.FromSeconds(2) })
    {
        Timeout = TimeSpan.FromSeconds(30),
    };
    private int _next;
    private readonly ConcurrentDictionary<string, string> _keys = new();
    private readonly ConcurrentDictionary<string, bool> _unavailable = new();

    /// <summary>The last answer to this key was a 503: a customer would click again (a new attempt, a new key).</summary>
    public bool LastWasUnavailable(string key) => _unavailable.ContainsKey(key);

    /// <summary>Shopify's next call answers 500 and is applied a moment later anyway (most often the coupon creation about to be sent).</summary>
    public void ShopifyAppliesNextLate() => env.Shopify.FailNext(ShopifyFault.AppliedLate);

    /// <summary>What the generator itself saw go wrong: a replay showing another code, a 5xx where the app promised none.</summary>
    public ConcurrentQueue<string> Anomalies { get; } = new();

    /// <summary>
    /// Converts like My Page: waits and clicks again on 409 <c>conversion_in_progress</c>, polls a 202 for up to a minute.
    /// The code once shown, or null (refused, failed, or still settling when the customer left the page).
    /// </summary>
    public async Task<SoakRecord.Shown?> ConvertAsync(long customer, long points, string key, bool replay, CancellationToken ct)
    {
        HttpResponseMessage response;
        bool resent;
        JsonElement body;
        for (var busy = 0; ; busy++)
        {
            (response, resent) = await SendAsync(b => Proxy(b, HttpMethod.Post, "api/conversions", customer, new { points }, key), ct);
            body = await BodyAsync(response, ct);
            if (response.StatusCode != HttpStatusCode.Conflict || busy == 40 || Text(body, "code") != "conversion_in_progress") break;
            response.Dispose();
            await Task.Delay(250, ct);
        }
        using var _ = response;
        var status = (int)response.StatusCode;
        if (response.StatusCode == HttpStatusCode.ServiceUnavailable) _unavailable[key] = true;
        var id = Text(body, "conversionId");
        if (id is not null)
        {
            record.Answered[id] = customer;
            if (_keys.GetOrAdd(key, id) != id) Anomalies.Enqueue($"key {key} of {customer} answered conversion {id}, earlier {_keys[key]}");
        }
        if (resent && id is not null) record.Count(replay ? "conversion replay answered after a resend to the other instance"
            : "conversion answered after a resend to the other instance");
        if (response.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK)
        {
            record.Count(replay ? "conversion replay answered with its code" : response.StatusCode == HttpStatusCode.Created
                ? "conversion code shown at once (201)" : "conversion code shown at once (200)");
            return Shown(body, customer);
        }
        if (response.StatusCode != HttpStatusCode.Accepted)
        {
            record.Count(id is null ? $"conversion refused up front ({status} {Text(body, "code")})"
                : $"conversion failed at once ({status} {Text(body, "code")})");
            return null;
        }
        record.Count(replay ? "conversion replay answered 202" : "conversion answered 202 (settled later)");
        record.Unsettled[id!] = customer;
        return await PollAsync(id!, customer, TimeSpan.FromMinutes(1), "while polling", ct);
    }

    /// <summary>Polls a conversion the customer was told is being processed; the code once shown, null if it failed or is still settling.</summary>
    public async Task<SoakRecord.Shown?> PollAsync(string id, long customer, TimeSpan patience, string when, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        do
        {
            await Task.Delay(500, ct);
            var (poll, _) = await SendAsync(b => Proxy(b, HttpMethod.Get, $"api/conversions/{id}", customer, null, null), ct);
            using var _ = poll;
            if (poll.StatusCode == HttpStatusCode.Accepted) continue;
            record.Unsettled.TryRemove(id, out var __);
            var body = await BodyAsync(poll, ct);
            if (poll.StatusCode == HttpStatusCode.OK)
            {
                record.Count($"conversion 202 then code shown {when}");
                return Shown(body, customer);
            }
            record.Count($"conversion 202 then failed {when} ({(int)poll.StatusCode} {Text(body, "code")})");
            return null;
        }
        while (clock.Elapsed < patience);
        return null; // still settling: the customer left the page; they come back once the run is quiet
    }

    private SoakRecord.Shown Shown(JsonElement body, long customer)
    {
        var shown = new SoakRecord.Shown(Text(body, "conversionId")!, Text(body, "code")!, customer, body.GetProperty("points").GetInt64(),
            body.GetProperty("amount").GetDecimal());
        var first = record.Codes.GetOrAdd(shown.Code, shown);
        if (first != shown) Anomalies.Enqueue($"code {shown.Code} shown as {shown}, earlier as {first}");
        return shown;
    }

    /// <summary>The customer cancels a coupon, asking again up to 20 times; see the overload with <c>attempts</c>.</summary>
    public Task<string> CancelAsync(SoakRecord.Shown s, bool afterRedeem, bool raced, CancellationToken ct) =>
        CancelAsync(s, afterRedeem, raced, attempts: 20, ct);

    /// <summary>
    /// The customer cancels a coupon; a 202 or a busy coupon is asked again (as My Page would) until the answer is final
    /// or <paramref name="attempts"/> run out. Records the last answer.
    /// </summary>
    public async Task<string> CancelAsync(SoakRecord.Shown s, bool afterRedeem, bool raced, int attempts, CancellationToken ct)
    {
        var outcome = "none";
        var (sentMs, answeredMs) = record.Cancels.TryGetValue(s.Code, out var earlier) ? (earlier.SentMs, earlier.AnsweredMs)
            : (record.Clock.Elapsed.TotalMilliseconds, 0d);
        for (var attempt = 0; attempt < attempts; attempt++)
        {
            if (attempt > 0) await Task.Delay(500, ct);
            var (response, _) = await SendAsync(b => Proxy(b, HttpMethod.Post, $"api/coupons/{Uri.EscapeDataString(s.Code)}/cancel", s.Customer,
                new { }, null), ct);
            using var _ = response;
            var code = Text(await BodyAsync(response, ct), "code");
            outcome = ((int)response.StatusCode, code) switch
            {
                (200, _) => "cancelled",
                (202, _) => "pending",
                (409, "coupon_used") => "used",
                (409, "coupon_expired") => "expired",
                (409, "conversion_in_progress") => "pending",
                var (st, c) => $"{st} {c}",
            };
            if (answeredMs == 0) answeredMs = record.Clock.Elapsed.TotalMilliseconds;
            if (outcome != "pending") break;
        }
        record.Cancels[s.Code] = new SoakRecord.Cancel(s.Code, s.Customer, outcome, afterRedeem, raced, sentMs, answeredMs);
        return outcome;
    }

    /// <summary>
    /// A checkout uses the code (the simulator counts it, or refuses as Shopify would), then Shopify tells the app:
    /// an <c>orders/paid</c> webhook naming the code, or, when the webhook is lost, the order waits for the missed-order sweep.
    /// </summary>
    public async Task<bool> RedeemAsync(SoakRecord.Shown s, long orderId, decimal amount, bool dropWebhook, CancellationToken ct)
    {
        if (!env.Shopify.Redeem(s.Code, s.Customer)) return false;
        record.RedeemedAtMs[s.Code] = record.Clock.Elapsed.TotalMilliseconds;
        record.Redeemed[s.Code] = orderId;
        record.Orders[orderId] = new SoakRecord.Order(s.Customer, amount, amount, 0, false, s.Code, record.EarnRate);
        if (dropWebhook)
        {
            env.Shopify.AddPaidOrder(orderId, s.Customer, amount, amount, discountCodes: [s.Code]);
            record.Count("redemption: webhook lost, left to the missed-order sweep");
            return true;
        }
        var order = JsonNode.Parse(ShopifyOutbound.PaidOrder(orderId, s.Customer, amount, amount))!;
        order["discount_codes"] = new JsonArray(new JsonObject { ["code"] = s.Code,
            ["amount"] = s.Amount.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture), ["type"] = "fixed_amount" });
        await WebhookAsync("orders/paid", order.ToJsonString(), null, ct);
        record.Count("redemption: orders/paid webhook naming the code");
        return true;
    }

    /// <summary>
    /// POS mode: once the award of <paramref name="orderId"/> has reached the POS, the customer spends every point at the
    /// store's till; the points spent (0 if the award did not arrive within a minute, and nothing was spent).
    /// </summary>
    public async Task<long> SpendAllInStoreOnceAwardedAsync(long customer, long orderId, CancellationToken ct)
    {
        var awarded = await Soak.WaitAsync(() => Task.FromResult(env.Pos.HasTransaction($"order:{orderId}")), TimeSpan.FromMinutes(1), ct);
        if (!awarded) return 0;
        var spent = env.Pos.SpendAllInStore(customer.ToString(), $"store-{orderId}");
        record.SpentInStore.AddOrUpdate(customer, spent, (_, v) => v + spent);
        return spent;
    }

    /// <summary>What My Page shows the customer: <c>GET /proxy/api/me</c>'s balance, where it came from, and the points pending.</summary>
    public async Task<(long Balance, string Source, long Pending)?> MeAsync(long customer, CancellationToken ct)
    {
        var (response, _) = await SendAsync(b => Proxy(b, HttpMethod.Get, "api/me", customer, null, null), ct);
        using var _ = response;
        if (!response.IsSuccessStatusCode) return null;
        var body = await BodyAsync(response, ct);
        return (body.GetProperty("balance").GetInt64(), Text(body, "balanceSource") ?? "", body.GetProperty("pending").GetInt64());
    }

    public void Dispose() => _http.Dispose();
}
