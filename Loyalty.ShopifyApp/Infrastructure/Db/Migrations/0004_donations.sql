-- Points donated by customers to a cause (seed 002's redeem-donation): a pledge the merchant honours.
CREATE TABLE donations (
    id              text PRIMARY KEY CHECK (id ~ '^don_[A-Za-z0-9]{20,40}$'),  -- also the ledger and POS reference
    shop_domain     text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id     bigint,                                                    -- NULL once the customer is redacted
    idempotency_key text NOT NULL,
    points          bigint NOT NULL CHECK (points > 0),
    cause           text NOT NULL CHECK (length(cause) BETWEEN 2 AND 100),
    state           text NOT NULL CHECK (state IN ('pending', 'completed', 'failed')),
    failure_code    text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    UNIQUE (shop_domain, customer_id, idempotency_key)
);
CREATE INDEX donations_pending ON donations (created_at) WHERE state = 'pending';
CREATE INDEX donations_shop_cause ON donations (shop_domain, cause) WHERE state = 'completed';
