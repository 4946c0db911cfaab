-- Points -> coupon conversions: the saga's persisted state, one row per conversion.
-- A coupon exists and is usable if and only if its points were deducted exactly once; every step is a
-- state here, so a reconciler can finish or compensate what a crash or an unknown outcome left behind.
CREATE TABLE conversions (
    id                  text PRIMARY KEY CHECK (id ~ '^conv_[A-Za-z0-9]{20,40}$'), -- also the POS reference and ledger reference
    shop_domain         text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id         bigint NOT NULL,
    idempotency_key     text NOT NULL,
    points              bigint NOT NULL CHECK (points > 0),
    amount              numeric(18, 2) NOT NULL CHECK (amount > 0),
    currency            text NOT NULL,
    balance_source      text NOT NULL CHECK (balance_source IN ('ledger', 'pos')),
    state               text NOT NULL CHECK (state IN ('pending', 'coupon_created', 'settling', 'compensating', 'completed', 'failed', 'needs_review')),
    code                text NOT NULL,      -- chosen before Shopify is called, so a crash can be settled by looking it up
    discount_id         text,
    expires_at          timestamptz NOT NULL,
    failure_code        text,
    failure_reason      text,
    last_error          text,                  -- why the last attempt did not move it on (retries)
    attempts            int NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    locked_until        timestamptz,
    deduct_attempted_at timestamptz,
    metafield_synced_at timestamptz,
    -- the coupon's life once issued; 'cancelling' = the customer cancelled it: discount deleted first, then points back
    coupon_status       text NOT NULL DEFAULT 'none' CHECK (coupon_status IN ('none', 'active', 'used', 'cancelling', 'cancelled')),
    used_order_id       bigint,
    used_at             timestamptz,
    cancelled_at        timestamptz,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    UNIQUE (shop_domain, customer_id, idempotency_key),
    UNIQUE (shop_domain, code)
);

-- One conversion in flight per customer, on any number of instances: the database refuses a second.
CREATE UNIQUE INDEX conversions_one_in_flight ON conversions (shop_domain, customer_id)
    WHERE state IN ('pending', 'coupon_created', 'settling', 'compensating');
CREATE INDEX conversions_due ON conversions (next_attempt_at)
    WHERE state IN ('pending', 'coupon_created', 'settling', 'compensating')
       OR (state = 'completed' AND (metafield_synced_at IS NULL OR coupon_status = 'cancelling'));
CREATE INDEX conversions_code ON conversions (shop_domain, upper(code));
CREATE INDEX conversions_customer ON conversions (shop_domain, customer_id, created_at);
