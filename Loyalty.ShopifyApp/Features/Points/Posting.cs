namespace Loyalty.ShopifyApp.Features.Points;

/// <summary>How <see cref="Ledger.PostAsync"/> posts an entry beyond recording it; each call site names what it asks for.</summary>
/// <param name="QueueForPos">The shop's balance lives in its POS: queue this row for delivery in the same transaction.</param>
/// <param name="FloorAtZero">For clawbacks under the floor-at-zero policy: take back at most what the customer has.</param>
/// <param name="PosAuthoritative">The POS already accepted this spend (it owns the balance): record it even below zero.</param>
public readonly record struct Posting(bool QueueForPos = false, bool FloorAtZero = false, bool PosAuthoritative = false);
