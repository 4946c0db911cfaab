-- Events for the merchant's other systems: one HTTPS endpoint per shop, and an outbox of signed events.
CREATE TABLE event_endpoints (
    shop_domain       text PRIMARY KEY REFERENCES shops (shop_domain) ON DELETE CASCADE,
    url               text NOT NULL,
    secret_protected  text NOT NULL,
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Written in the same transaction as what it reports; delivered at least once (the id lets receivers dedupe).
CREATE TABLE outgoing_events (
    id               text PRIMARY KEY CHECK (id ~ '^evt_[A-Za-z0-9]{20,40}$'),
    shop_domain      text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    type             text NOT NULL CHECK (type IN ('coupon.created', 'coupon.redeemed', 'points.awarded', 'conversion.completed')),
    payload          jsonb NOT NULL,
    state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_status      int,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz
);
CREATE INDEX outgoing_events_due ON outgoing_events (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outgoing_events_shop ON outgoing_events (shop_domain, state, created_at);
