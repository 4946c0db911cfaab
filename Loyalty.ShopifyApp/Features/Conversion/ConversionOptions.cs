using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Conversion;

/// <summary>Section <c>Conversion</c>.</summary>
public sealed class ConversionOptions
{
    public const string Section = "Conversion";

    /// <summary>
    /// How long a request or reconciler run owns a conversion it is driving; renewed by every step and before every
    /// external call. A driver that outlasts it and is claimed by another is fenced out by the lease token.
    /// </summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Conversion:LeaseSeconds must be positive.")]
    public int LeaseSeconds { get; set; } = 60;

    /// <summary>
    /// A POS deduction whose outcome was unknown is settled by reference only this long after it was sent,
    /// when no request that could still apply it can be in flight (well past the POS client's total timeout).
    /// </summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Conversion:SettleAfterSeconds must be 0 or more.")]
    public int SettleAfterSeconds { get; set; } = 60;

    /// <summary>Delay between reconciler attempts on one conversion.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Conversion:RetryDelaySeconds must be 0 or more.")]
    public int RetryDelaySeconds { get; set; } = 30;

    /// <summary>A conversion still unsettled this long after it started goes to needs_review.</summary>
    public int NeedsReviewAfterMinutes { get; set; } = 24 * 60;

    /// <summary>
    /// A pending conversion whose coupon Shopify still does not have this long after its creation was last sent is failed
    /// (nothing was deducted). Until then a miss is not conclusive: the send may still apply. Keep it above the longest a
    /// send can take (<c>Shopify:ThrottleMaxWaitSeconds</c> + <c>Shopify:GraphQLTimeoutSeconds</c>).
    /// </summary>
    public int PendingTimeoutSeconds { get; set; } = 120;

    /// <summary>
    /// How long a customer's conversion request waits for the shop's Shopify API cost bucket before it answers 202
    /// and leaves the coupon to the reconciler (woken when the bucket allows). My Page shows "Processing…" meanwhile.
    /// </summary>
    [SettingRange(0d, 30d, ErrorMessage = "Conversion:RequestShopifyWaitSeconds must be 0-30.")]
    public double RequestShopifyWaitSeconds { get; set; } = 3;

    /// <summary>
    /// A conversion whose coupon could not be sent to Shopify this long after it started (the shop's API budget stayed
    /// spent) fails with shopify_unavailable; nothing was sent and nothing deducted.
    /// </summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Conversion:ShopifyQueueTimeoutSeconds must be positive.")]
    public int ShopifyQueueTimeoutSeconds { get; set; } = 900;

    /// <summary>Read-merge-write rounds of one metafield update when the list changed meanwhile (STALE_OBJECT).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Conversion:MetafieldAttempts must be positive.")]
    public int MetafieldAttempts { get; set; } = 5;

    /// <summary>At most this many coupons in a customer's <c>loyalty.coupons</c> list: live ones first, then the newest.</summary>
    [SettingRange(1, 200, ErrorMessage = "Conversion:MetafieldMaxEntries must be 1-200.")]
    public int MetafieldMaxEntries { get; set; } = 50;

    /// <summary>Used and expired coupons stay in the list this many days after their use or expiry.</summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Conversion:MetafieldRecentDays must be 0 or more.")]
    public int MetafieldRecentDays { get; set; } = 90;

    /// <summary>Failed metafield updates in a row (waiting for Shopify's API budget aside) before the merchant is asked to look.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Conversion:MetafieldMaxFailures must be positive.")]
    public int MetafieldMaxFailures { get; set; } = 10;

    /// <summary>
    /// How long after a list write answered with an error (5xx, timeout) Shopify may still apply it. A sync within that
    /// time is followed by one more after it: Shopify's compareDigest is a digest of the value, so a late write based on
    /// a list equal to the current one would otherwise land on top of it.
    /// </summary>
    [SettingRange(0, int.MaxValue, ErrorMessage = "Conversion:MetafieldLateWriteSeconds must be 0 or more.")]
    public int MetafieldLateWriteSeconds { get; set; } = 60;

    /// <summary>
    /// A customer's request reads their <c>loyalty.coupons</c> list from Shopify while the points are deducted, so the read does not wait
    /// for the deduction (a POS call and a commit) nor the deduction for the read; the list is still merged with our coupons only after
    /// Shopify answered and the deduction committed. A read the shop's bucket has no budget to spare for is made after, as before; a list
    /// read ahead is written only if the bucket has room at once, else by the reconciler (the code is not held back for it); the read is
    /// wasted when the points cannot be deducted. False: read after the deduction.
    /// </summary>
    public bool ReadListAhead { get; set; } = true;

    /// <summary>
    /// A customer's request is answered with the code as soon as the points are deducted; the same drive then writes the customer's
    /// <c>loyalty.coupons</c> list (a record for the theme and the merchant; My Page lists coupons from this app's own rows), holding the
    /// conversion's lease until its last write, whether or not the customer is still there. A list not written then (the process
    /// ended, Shopify failed) is written by the reconciler, as one the bucket had no room for always was. False: the answer waits for
    /// the list's write, the seed's order (about one Shopify call longer).
    /// </summary>
    public bool AnswerBeforeList { get; set; } = true;

    /// <summary>
    /// How long a customer's cancellation waits for a drive under way on the coupon (the list's write behind a conversion's answer, a
    /// reconciler run) to end before it answers 409 <c>conversion_in_progress</c>.
    /// </summary>
    [SettingRange(0, 30_000, ErrorMessage = "Conversion:CancelWaitMilliseconds must be 0-30000.")]
    public int CancelWaitMilliseconds { get; set; } = 2_000;

    [SettingRange(1, int.MaxValue, ErrorMessage = "Conversion:ReconcilerBatchSize must be positive.")]

    public int ReconcilerBatchSize { get; set; } = 50;

    /// <summary>
    /// A shop's share of a reconciler batch while other shops have conversions waiting: shops take turns in a claim (each its most
    /// urgent first) up to this many each, so one shop with many waiting (its Shopify throttled, its POS down) cannot take every
    /// worker from the others; what is left of the batch then goes to more of the shops with more waiting.
    /// </summary>
    [SettingRange(1, 1000, ErrorMessage = "Conversion:ReconcilerMaxPerShop must be 1-1000.")]
    public int ReconcilerMaxPerShop { get; set; } = 4;

    /// <summary>How many conversions of a batch one reconciler run drives at once.</summary>
    [SettingRange(1, 64, ErrorMessage = "Conversion:ReconcilerParallelism must be 1-64.")]
    public int ReconcilerParallelism { get; set; } = 8;

    /// <summary>
    /// The hourly orphan-coupon sweep schedules one job per installed shop, spread evenly over this many seconds (0: all at
    /// once); keep it below the run's interval.
    /// </summary>
    [SettingRange(0, 3600, ErrorMessage = "Conversion:OrphanSweepSpreadSeconds must be 0-3600.")]
    public int OrphanSweepSpreadSeconds { get; set; } = 1800;
}

[OptionsValidator]
public sealed partial class ConversionOptionsValidator : IValidateOptions<ConversionOptions>;
