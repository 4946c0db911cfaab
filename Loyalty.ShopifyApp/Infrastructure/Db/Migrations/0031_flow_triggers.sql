-- Shopify Flow triggers (issue 18): the app's trigger extensions (extensions/loyalty-*/shopify.extension.toml) are sent with the
-- Admin API's flowTriggerReceive, and only to shops where a merchant turned on a workflow that uses the trigger, as Shopify's
-- trigger lifecycle callback says (POST /flow/lifecycle). A trigger is queued in the transaction of the fact it reports, once
-- per fact (its dedupe key), and sent by the flow-delivery job at least once.
SET LOCAL lock_timeout = '5s';

-- What the lifecycle callback said last, per shop and trigger. `trigger` is its flow_trigger_definition_id as Shopify sends it
-- (the handle, or the trigger's title: both are matched). An older callback never overrides a newer one (changed_at).
CREATE TABLE flow_trigger_usage (
    shop_domain text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    trigger     text NOT NULL CHECK (length(trigger) BETWEEN 1 AND 200),
    enabled     boolean NOT NULL,
    changed_at  timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_domain, trigger)
);

CREATE TABLE flow_outbox (
    id              bigserial PRIMARY KEY,
    shop_domain     text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    handle          text NOT NULL CHECK (handle ~ '^[a-z0-9-]{1,30}$'),
    dedupe_key      text NOT NULL CHECK (length(dedupe_key) BETWEEN 1 AND 200),
    customer_id     bigint,
    payload         jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts        int NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    UNIQUE (shop_domain, handle, dedupe_key),
    CHECK ((state = 'delivered') = (delivered_at IS NOT NULL))
);
CREATE INDEX flow_outbox_due ON flow_outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX flow_outbox_customer ON flow_outbox (shop_domain, customer_id);
