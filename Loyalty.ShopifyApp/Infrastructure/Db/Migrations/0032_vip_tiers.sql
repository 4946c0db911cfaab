-- VIP tiers (issue 18): a shop's tiers by a threshold on points earned or money spent, over a rolling window of months or a
-- lifetime; a tier multiplies what its members earn from orders. A customer rises at once, and drops only after the shop's grace
-- period below their tier's threshold. A tier set by hand (with a reason) stays until the merchant gives it back to the rules.
-- Every change is in tier_changes (the audit), with who made it and why.
SET LOCAL lock_timeout = '5s';

CREATE TABLE tier_programs (
    shop_domain   text PRIMARY KEY REFERENCES shops (shop_domain) ON DELETE CASCADE,
    basis         text NOT NULL DEFAULT 'points_earned' CHECK (basis IN ('points_earned', 'money_spent')),
    window_months int CHECK (window_months BETWEEN 1 AND 60), -- NULL: lifetime
    grace_days    int NOT NULL DEFAULT 30 CHECK (grace_days BETWEEN 0 AND 365),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tiers (
    id          bigserial PRIMARY KEY,
    shop_domain text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 60),
    threshold   numeric(18, 2) NOT NULL CHECK (threshold > 0),
    multiplier  numeric(6, 3) NOT NULL CHECK (multiplier BETWEEN 1 AND 10),
    perks       text[] NOT NULL DEFAULT '{}' CHECK (cardinality(perks) <= 10),
    archived_at timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tiers_name ON tiers (shop_domain, lower(name)) WHERE archived_at IS NULL;
CREATE UNIQUE INDEX tiers_threshold ON tiers (shop_domain, threshold) WHERE archived_at IS NULL;

-- A customer's tier (tier_id NULL: none). below_since: when their figure fell below their tier's threshold (the grace runs from
-- then); metric: the figure at the last evaluation.
CREATE TABLE customer_tiers (
    shop_domain  text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id  bigint NOT NULL,
    tier_id      bigint REFERENCES tiers (id),
    source       text NOT NULL CHECK (source IN ('computed', 'manual')),
    since        timestamptz NOT NULL,
    below_since  timestamptz,
    metric       numeric NOT NULL DEFAULT 0,
    evaluated_at timestamptz NOT NULL,
    PRIMARY KEY (shop_domain, customer_id)
);
CREATE INDEX customer_tiers_by_tier ON customer_tiers (tier_id, customer_id) WHERE tier_id IS NOT NULL;

CREATE TABLE tier_changes (
    id           bigserial PRIMARY KEY,
    shop_domain  text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id  bigint NOT NULL,
    from_tier_id bigint REFERENCES tiers (id),
    to_tier_id   bigint REFERENCES tiers (id),
    cause        text NOT NULL CHECK (cause IN ('rose', 'dropped', 'manual', 'automatic')),
    reason       text CHECK (length(reason) <= 500),
    actor        text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tier_changes_by_customer ON tier_changes (shop_domain, customer_id, id);

-- A customer's figure reads their orders (awarded, or skipped but paid: money spent counts without points) by this index.
CREATE INDEX order_earnings_by_customer ON order_earnings (shop_domain, customer_id) WHERE status IN ('awarded', 'skipped');

-- The multiplier an order earned at (its customer's tier when it was awarded); refunds read awarded_points, so stay exact.
ALTER TABLE order_earnings ADD COLUMN tier_multiplier numeric(6, 3) NOT NULL DEFAULT 1 CHECK (tier_multiplier BETWEEN 1 AND 10);

ALTER TABLE outgoing_events DROP CONSTRAINT outgoing_events_type_check;
ALTER TABLE outgoing_events ADD CONSTRAINT outgoing_events_type_check CHECK (
    type IN ('coupon.created', 'coupon.redeemed', 'points.awarded', 'conversion.completed', 'points.released', 'points.expired',
             'points.expiring', 'tier.changed')) NOT VALID;
ALTER TABLE outgoing_events VALIDATE CONSTRAINT outgoing_events_type_check;
