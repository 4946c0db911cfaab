-- Points expiring soon: expiry_notice_days before a lot expires (or before an inactivity period ends), the customer's shop hears of
-- it once, as a points.expiring event (and, later, a Shopify Flow trigger), so the merchant can remind the customer. A notice
-- is a row per lot (notice_key lot:{id}) or per inactivity period (inactive:{when it ends}); the key makes it once.
SET LOCAL lock_timeout = '5s';
ALTER TABLE shop_settings ADD COLUMN expiry_notice_days int NOT NULL DEFAULT 14 CHECK (expiry_notice_days BETWEEN 0 AND 90);

CREATE TABLE expiry_notices (
    shop_domain text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id bigint NOT NULL,
    notice_key  text NOT NULL,
    points      bigint NOT NULL CHECK (points > 0),
    expires_at  timestamptz NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_domain, customer_id, notice_key)
);

ALTER TABLE outgoing_events DROP CONSTRAINT outgoing_events_type_check;
ALTER TABLE outgoing_events ADD CONSTRAINT outgoing_events_type_check CHECK (
    type IN ('coupon.created', 'coupon.redeemed', 'points.awarded', 'conversion.completed', 'points.released', 'points.expired',
             'points.expiring')) NOT VALID;
