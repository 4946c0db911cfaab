-- lease_token: who drives a conversion now. Every claim (the customer's request, a reconciler run, a cancellation, a
-- merchant's review action) draws a new token, and every state change and lease renewal of the saga is an UPDATE that
-- checks it, so a driver whose lease ran out and was claimed by another changes nothing more and stops before its next
-- external call.
ALTER TABLE conversions ADD COLUMN lease_token uuid;

-- Orders that used a loyalty coupon after it was cancelled (its points already given back): the merchant decides, with
-- the amount at stake in front of them. One row per coupon and order, however often the order is seen.
CREATE TABLE coupon_incidents (
    id             bigserial PRIMARY KEY,
    shop_domain    text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    conversion_id  text NOT NULL REFERENCES conversions (id) ON DELETE CASCADE,
    order_id       bigint NOT NULL,
    kind           text NOT NULL CHECK (kind IN ('used_after_cancel')),
    code           text NOT NULL,
    amount         numeric(18, 2) NOT NULL,
    currency       text NOT NULL,
    points         bigint NOT NULL,
    detected_by    text NOT NULL CHECK (detected_by IN ('webhook', 'sweep')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    text,
    resolution     text,
    UNIQUE (conversion_id, order_id)
);
CREATE INDEX coupon_incidents_open ON coupon_incidents (shop_domain, created_at) WHERE resolved_at IS NULL;

-- resume_from: where a missed-order sweep stopped by its page limit goes on (the last order it read, inclusive, no
-- overlap), so the orders it did not read are read next time instead of being stepped over.
ALTER TABLE order_sweeps ADD COLUMN resume_from timestamptz;
