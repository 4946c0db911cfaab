-- A tier's perk in Shopify (issue 18): its members carry the tier's customer tag, so the merchant builds a customer segment on it and
-- limits discounts, campaigns or shipping rates to the tier with Shopify's own tools. A change of tier queues the tags to add and
-- remove, in the transaction of the change; the customer-tags job applies them in order per customer (tagsAdd, tagsRemove).
SET LOCAL lock_timeout = '5s';

ALTER TABLE tiers ADD COLUMN customer_tag text CHECK (customer_tag ~ '^[A-Za-z0-9][A-Za-z0-9 _-]{0,39}$');

-- A better conversion value for members: a coupon from their points is worth this much more (0-100 %).
ALTER TABLE tiers ADD COLUMN conversion_bonus_percent numeric(5, 2) NOT NULL DEFAULT 0
    CHECK (conversion_bonus_percent BETWEEN 0 AND 100);

CREATE TABLE customer_tag_changes (
    id              bigserial PRIMARY KEY,
    shop_domain     text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id     bigint NOT NULL,
    add_tags        text[] NOT NULL DEFAULT '{}',
    remove_tags     text[] NOT NULL DEFAULT '{}',
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'applied', 'failed', 'skipped')),
    attempts        int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    applied_at      timestamptz,
    CHECK (cardinality(add_tags) + cardinality(remove_tags) > 0)
);
CREATE INDEX customer_tag_changes_due ON customer_tag_changes (shop_domain, customer_id, id) WHERE state = 'pending';
