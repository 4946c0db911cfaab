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
