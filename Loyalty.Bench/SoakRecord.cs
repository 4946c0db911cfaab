using System.Collections.Concurrent;

namespace Loyalty.Bench;

/// <summary>
/// The load generator's own record of one soak run: what it sent and what each customer was shown. With the
/// simulators' complete records it is all <see cref="SoakChecker"/> judges by; the app's tables are read for the
/// report only, never as evidence.
/// </summary>
public sealed class SoakRecord(string mode)
{
    /// <summary>A code the app showed a customer (a 201, or a 200 to a replay or a poll), with the conversion it names.</summary>
    public sealed record Shown(string ConversionId, string Code, long Customer, long Points, decimal Amount);

    /// <summary>
    /// An order the generator paid (as a webhook, or left for the missed-order sweep), and what happened to it after.
    /// <paramref name="Amount"/> is in the shop's currency (what earns); <paramref name="Paid"/> and <paramref name="Refunded"/>
    /// in the currency the customer paid in (refunds are); <paramref name="Rate"/> the shop's earn rate when it was paid.
    /// </summary>
    /// <param name="Multiplier">The tier multiplier it earns at, when the generator knows it is not the customer's (an entry order).</param>
    public sealed record Order(long Customer, decimal Amount, decimal Paid, decimal Refunded, bool Cancelled, string? Code, decimal Rate,
        decimal? Multiplier = null);

    /// <summary>What the customer was last told about a cancellation: cancelled, used, expired, pending (202 or busy), or another answer.</summary>
    /// <param name="SentMs">When the first cancel request was sent, on <see cref="Clock"/>.</param>
    /// <param name="AnsweredMs">When its first answer came back.</param>
    public sealed record Cancel(string Code, long Customer, string Outcome, bool AfterRedeem, bool Raced, double SentMs, double AnsweredMs);

    public string Mode { get; } = mode;

    public bool PosMode => Mode == "pos";

    public ConcurrentDictionary<string, Shown> Codes { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Every conversion id the app answered with (a code, a 202, a failure), and its customer.</summary>
    public ConcurrentDictionary<string, long> Answered { get; } = new();

    /// <summary>Conversions answered 202 whose outcome the customer has not seen yet (they left the page).</summary>
    public ConcurrentDictionary<string, long> Unsettled { get; } = new();

    public ConcurrentDictionary<string, Cancel> Cancels { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Codes a checkout used (the simulator's <c>Redeem</c> said yes), with the order that used them.</summary>
    public ConcurrentDictionary<string, long> Redeemed { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>When each checkout used its code, on <see cref="Clock"/>.</summary>
    public ConcurrentDictionary<string, double> RedeemedAtMs { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The run's clock, for the order of events a violation may need to show.</summary>
    public System.Diagnostics.Stopwatch Clock { get; } = System.Diagnostics.Stopwatch.StartNew();

    public ConcurrentDictionary<long, Order> Orders { get; } = new();

    public ConcurrentDictionary<long, long> Opening { get; } = new();

    /// <summary>The shop's earn rate now (the generator changes it once mid-run, with every order before it settled).</summary>
    public decimal EarnRate { get; set; }

    /// <summary>POS mode: customers the POS does not know until the merchant creates them there after the run.</summary>
    public HashSet<long> UnknownToPos { get; } = [];

    /// <summary>POS mode: customers who spend their points at the store's till during the run.</summary>
    public HashSet<long> StoreSpenders { get; } = [];

    /// <summary>POS mode: points each customer spent at the store's till (the POS's own transactions, unknown to the app).</summary>
    public ConcurrentDictionary<long, long> SpentInStore { get; } = new();

    /// <summary>Balance-source switches attempted while a conversion was held in flight, and what the app answered.</summary>
    public ConcurrentQueue<(string ConversionKey, int Status, string? Code)> SwitchAttempts { get; } = new();

    /// <summary>Points each customer could ask to convert at most (every attempt of every scheduled conversion).</summary>
    public ConcurrentDictionary<long, long> Demand { get; } = new();

    private int _requests;
    private int _transportRetries;
    private int _responses5xx;

    public int Requests => Volatile.Read(ref _requests);
    public int TransportRetries => Volatile.Read(ref _transportRetries);
    public int Responses5xx => Volatile.Read(ref _responses5xx);

    public void CountRequest() => Interlocked.Increment(ref _requests);
    public void CountTransportRetry() => Interlocked.Increment(ref _transportRetries);
    public void CountResponse5xx() => Interlocked.Increment(ref _responses5xx);

    private readonly ConcurrentDictionary<string, int> _paths = new();

    /// <summary>Counts one case of a path a request took (printed at the end, sorted by path).</summary>
    public void Count(string path, int n = 1) => _paths.AddOrUpdate(path, n, (_, v) => v + n);

    public int PathCount(string path) => _paths.GetValueOrDefault(path);

    public IReadOnlyDictionary<string, int> Paths => _paths;

    /// <summary>
    /// The customer's balance in the ledger by the generator's own arithmetic: opening + floor(amount × rate) per paid
    /// order (the rate when it was paid), less the refunded share of what the customer paid (all of it for a cancelled
    /// order), less every conversion whose code was shown, plus the points of each coupon whose cancellation the
    /// customer was told succeeded. After the jump past expiry (<see cref="Expired"/>), every point earned in the run has
    /// expired: what is left is a negative balance (nothing to expire) and the points pending during the run, released at the
    /// jump (dated by the end of their period, so still young).
    /// </summary>
    public long ExpectedBalance(long customer)
    {
        var balance = BalanceBeforeExpiry(customer);
        return Expired ? Math.Min(balance, 0) + (PendingDays > 0 ? OrderPoints(customer) : 0) : balance;
    }

    /// <summary>What the customer held when the program's time jumped (see <see cref="ExpectedBalance"/>): all of it expires if positive.</summary>
    public long BalanceBeforeExpiry(long customer)
    {
        var balance = Opening.GetValueOrDefault(customer) + (PendingDays > 0 ? 0 : OrderPoints(customer));
        foreach (var s in Codes.Values.Where(s => s.Customer == customer))
        {
            balance -= s.Points;
            if (Cancels.TryGetValue(s.Code, out var c) && c.Outcome == "cancelled") balance += s.Points;
        }
        return balance;
    }

    /// <summary>Months after which points expire (0: never); the run ends with the program's time moved past them.</summary>
    public int ExpiryMonths { get; init; }

    /// <summary>The program's time has jumped past the expiry of every point earned in the run (the checker then judges).</summary>
    public bool Expired { get; set; }

    /// <summary>
    /// The shop's pending period (0: none). Every order of a run is paid during it and the run lasts far less than a day, so with a
    /// period every order's points are still pending at the check: none spendable, none sent to a POS.
    /// </summary>
    public int PendingDays { get; init; }

    /// <summary>The customer's pending points by the generator's arithmetic: what their orders still hold (0 without a period).</summary>
    public long ExpectedPending(long customer) => PendingDays > 0 && !Expired ? OrderPoints(customer) : 0;

    /// <summary>The multiplier of each customer in a tier before the load, by hand or by the rules (1 for the others).</summary>
    public ConcurrentDictionary<long, decimal> Multipliers { get; } = new();

    /// <summary>
    /// What the customer's orders earned and still hold: floor(amount × rate × their tier's multiplier) each, less its refunded share; 0 if
    /// cancelled.
    /// </summary>
    private long OrderPoints(long customer)
    {
        long points = 0;
        var multiplier = Multipliers.GetValueOrDefault(customer, 1m);
        foreach (var o in Orders.Values.Where(o => o.Customer == customer))
        {
            var award = (long)decimal.Floor(o.Amount * o.Rate * (o.Multiplier ?? multiplier));
            if (award <= 0 || o.Cancelled) continue;
            points += award - (long)decimal.Floor(award * Math.Min(o.Refunded, o.Paid) / o.Paid);
        }
        return points;
    }
}
