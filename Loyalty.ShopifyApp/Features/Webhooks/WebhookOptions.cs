using System.ComponentModel.DataAnnotations;
using Loyalty.ShopifyApp.Infrastructure.Configuration;

namespace Loyalty.ShopifyApp.Features.Webhooks;

/// <summary>Section <c>Webhooks</c>: intake limits, processing retries and data retention.</summary>
public sealed class WebhookOptions : IValidatableObject
{
    public const string Section = "Webhooks";

    /// <summary>Largest body accepted; Shopify order payloads with many lines reach a few hundred KB.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Webhooks:MaxBodyBytes must be positive (bytes).")]
    public int MaxBodyBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>Processing attempts before a delivery is parked as failed for an operator.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Webhooks:MaxAttempts must be positive.")]
    public int MaxAttempts { get; set; } = 12;

    /// <summary>First retry delay; doubles each attempt up to <see cref="MaxRetryDelaySeconds"/>.</summary>
    public double RetryBaseDelaySeconds { get; set; } = 5;

    public double MaxRetryDelaySeconds { get; set; } = 3600;

    /// <summary>How often each instance looks for due deliveries (its own are picked up at once).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Webhooks:PollIntervalMs must be positive (milliseconds).")]
    public int PollIntervalMs { get; set; } = 1000;

    /// <summary>How long a worker owns a claimed delivery; after that another instance may take it over.</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Webhooks:LeaseSeconds must be positive.")]
    public int LeaseSeconds { get; set; } = 120;

    /// <summary>Writers storing acknowledged deliveries (<see cref="WebhookInbox"/>); each takes all that is queued when it is free.</summary>
    [SettingRange(1, 16, ErrorMessage = "Webhooks:IntakeWriters must be 1-16.")]
    public int IntakeWriters { get; set; } = 2;

    /// <summary>
    /// Deliveries waiting for a writer, at most. When the database is slow or away, more would only grow the instance's
    /// memory: a delivery beyond it is answered 503 with Retry-After, and Shopify sends it again.
    /// </summary>
    [SettingRange(1, 1_000_000, ErrorMessage = "Webhooks:IntakeQueueCapacity must be 1-1000000.")]
    public int IntakeQueueCapacity { get; set; } = 5000;

    /// <summary>
    /// Payload bytes waiting for a writer, at most (the count limit alone would let 5000 large orders hold gigabytes): past it
    /// a delivery is answered 503 like one past <see cref="IntakeQueueCapacity"/>. One delivery is always let in when none waits.
    /// </summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Webhooks:IntakeQueueMaxBytes must be positive (bytes).")]
    public int IntakeQueueMaxBytes { get; set; } = 64 * 1024 * 1024;

    /// <summary>The most payload bytes one INSERT stores (a single larger delivery is stored alone).</summary>
    [SettingRange(1, int.MaxValue, ErrorMessage = "Webhooks:IntakeGroupMaxBytes must be positive (bytes).")]
    public int IntakeGroupMaxBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>The most deliveries one INSERT stores.</summary>
    [SettingRange(1, 1000, ErrorMessage = "Webhooks:IntakeGroupMaxRows must be 1-1000.")]
    public int IntakeGroupMaxRows { get; set; } = 200;

    /// <summary>How long a writer waits for more deliveries before it writes (0: what is queued now; under load, what came meanwhile).</summary>
    [SettingRange(0, 1000, ErrorMessage = "Webhooks:IntakeGroupWaitMs must be 0-1000 (milliseconds).")]
    public int IntakeGroupWaitMs { get; set; }

    /// <summary>Deliveries one instance claims at a time.</summary>
    [SettingRange(1, 1000, ErrorMessage = "Webhooks:BatchSize must be 1-1000.")]
    public int BatchSize { get; set; } = 100;

    /// <summary>
    /// Lanes of a batch handled at once (deliveries about one customer or order stay in one lane, in order); each takes a
    /// database connection while it works. More lanes than the database has cores to run them only queue there, and slow the
    /// intake's commits beside them: on a two-core machine 4 acknowledged faster and awarded sooner than 8 (docs/benchmarks.md,
    /// 2026-12-05). Raise it with the database's cores. Fewer while the intake is busy (<see cref="BusyIntakeDeliveries"/>).
    /// </summary>
    [SettingRange(1, 64, ErrorMessage = "Webhooks:Parallelism must be 1-64.")]
    public int Parallelism { get; set; } = 4;

    /// <summary>
    /// Deliveries being stored at once (requests waiting for their row to be durable, <see cref="WebhookInbox.Storing"/>) from which
    /// the intake counts as busy: a claimed batch then runs on <see cref="BusyIntakeParallelism"/> lanes, so that in a flash sale the
    /// machine goes first to acknowledging Shopify within its timeout, and the backlog is worked off at full
    /// <see cref="Parallelism"/> as soon as the intake is quiet again. 0: never (always <see cref="Parallelism"/>).
    /// </summary>
    [SettingRange(0, 100_000, ErrorMessage = "Webhooks:BusyIntakeDeliveries must be 0-100000 (0: off).")]
    public int BusyIntakeDeliveries { get; set; } = 8;

    /// <summary>Lanes of a claimed batch handled at once while the intake is busy (<see cref="BusyIntakeDeliveries"/>); at least one, so
    /// the backlog always moves, and at most <see cref="Parallelism"/>.</summary>
    [SettingRange(1, 64, ErrorMessage = "Webhooks:BusyIntakeParallelism must be 1-64.")]
    public int BusyIntakeParallelism { get; set; } = 1;

    /// <summary>
    /// How long after deliveries last reached <see cref="BusyIntakeDeliveries"/> the intake still counts as busy: a group commit
    /// answers dozens at once, and the count's dip between two groups is not the end of a burst.
    /// </summary>
    [SettingRange(0, 60_000, ErrorMessage = "Webhooks:BusyIntakeQuietMs must be 0-60000 (milliseconds).")]
    public int BusyIntakeQuietMs { get; set; } = 250;

    /// <summary>How long the intake goes first without a quiet moment; past it the backlog gets all lanes again.</summary>
    [SettingRange(1, 3600, ErrorMessage = "Webhooks:BusyIntakeMaxSeconds must be 1-3600.")]
    public int BusyIntakeMaxSeconds { get; set; } = 10;

    /// <summary>
    /// Deliveries a lane worker handles in one transaction (each in a savepoint of its own, so a failure undoes only its delivery):
    /// one commit, one WAL flush, for up to this many awards. 1 gives each delivery its own transaction. At most 50: past 64
    /// savepoints in one transaction PostgreSQL's subtransaction cache overflows, which slows every session.
    /// </summary>
    [SettingRange(1, 50, ErrorMessage = "Webhooks:TransactionSize must be 1-50.")]
    public int TransactionSize { get; set; } = 25;

    /// <summary>
    /// Consecutive deliveries of one topic and shop in a transaction, about distinct customers and orders, handled as one set by a
    /// handler that can (plain <c>orders/paid</c> awards: a few statements for them all); off: each on its own, as before.
    /// </summary>
    public bool SetHandling { get; set; } = true;

    /// <summary>
    /// How long the intake takes a shop it found installed to be installed still, without asking the database
    /// (<see cref="InstalledShops"/>); 0 asks for every delivery.
    /// </summary>
    [SettingRange(0, 300, ErrorMessage = "Webhooks:InstalledShopCacheSeconds must be 0-300.")]
    public int InstalledShopCacheSeconds { get; set; } = 5;

    /// <summary>Raw payloads of handled deliveries are cleared after this many days (data minimisation).</summary>
    public int PayloadRetentionDays { get; set; } = 30;

    /// <summary>Handled delivery rows (without payload) are deleted after this many days.</summary>
    public int DeliveryRetentionDays { get; set; } = 90;

    /// <summary>Customer data exports are deleted this many days after they were produced.</summary>
    public int DataExportRetentionDays { get; set; } = 30;

    public int PurgeIntervalMinutes { get; set; } = 60;

    /// <summary>Turns the in-process worker off (e.g. a web-only instance); deliveries wait for another instance.</summary>
    public bool ProcessingEnabled { get; set; } = true;

    /// <summary>Fewer lanes while the intake is busy, never more.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (BusyIntakeParallelism > Parallelism)
        {
            yield return new ValidationResult(
                $"Webhooks:BusyIntakeParallelism ({BusyIntakeParallelism}) must not be more than Webhooks:Parallelism ({Parallelism}).",
                [nameof(BusyIntakeParallelism)]);
        }
    }
}

[OptionsValidator]
public sealed partial class WebhookOptionsValidator : IValidateOptions<WebhookOptions>;
