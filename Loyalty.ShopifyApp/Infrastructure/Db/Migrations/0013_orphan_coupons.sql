-- The orphan coupon sweep's record per shop: when it last ran, what it checked and deleted, and its running total.
-- An orphan is a discount this app created in Shopify that no completed conversion owns (its conversion failed, is
-- gone, owns another discount, or its coupon was cancelled): live, it is a discount nobody paid points for.
CREATE TABLE orphan_coupon_sweeps (
    shop_domain    text PRIMARY KEY REFERENCES shops (shop_domain) ON DELETE CASCADE,
    last_run_at    timestamptz NOT NULL,
    last_checked   int NOT NULL,
    last_deleted   int NOT NULL,
    deleted_total  bigint NOT NULL,
    used_total     bigint NOT NULL, -- orphans an order had already used before they were found: money the merchant lost
    last_error     text
);

-- metafield_failures: failed loyalty.coupons writes in a row (waiting for Shopify's API budget aside). Past
-- Conversion:MetafieldMaxFailures the write becomes an incident for the merchant and is not retried until resolved.
ALTER TABLE conversions ADD COLUMN metafield_failures int NOT NULL DEFAULT 0;
ALTER TABLE coupon_incidents ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE coupon_incidents ADD COLUMN detail text;
ALTER TABLE coupon_incidents DROP CONSTRAINT coupon_incidents_kind_check;
ALTER TABLE coupon_incidents ADD CONSTRAINT coupon_incidents_kind_check CHECK (
    kind IN ('used_after_cancel', 'metafield_write_failed')
    AND (kind = 'used_after_cancel') = (order_id IS NOT NULL));
ALTER TABLE coupon_incidents DROP CONSTRAINT coupon_incidents_detected_by_check;
ALTER TABLE coupon_incidents ADD CONSTRAINT coupon_incidents_detected_by_check CHECK (detected_by IN ('webhook', 'sweep', 'reconciler'));
-- One open metafield incident per conversion.
CREATE UNIQUE INDEX coupon_incidents_open_metafield ON coupon_incidents (conversion_id)
    WHERE kind = 'metafield_write_failed' AND resolved_at IS NULL;
