-- Foundation: installed shops and their tokens, OAuth state, the shared Data Protection key ring,
-- the durable webhook inbox, and compliance (GDPR) records.
-- Every table holding a shop's data references shops(shop_domain) ON DELETE CASCADE, so that
-- shop/redact erases a shop by deleting one row, and a new table cannot forget to be erased.

CREATE TABLE shops (
    shop_domain     text PRIMARY KEY CHECK (shop_domain ~ '^[a-z0-9][a-z0-9\-]*\.myshopify\.com$'),
    state           text NOT NULL CHECK (state IN ('installed', 'uninstalled')),
    installed_at    timestamptz NOT NULL,
    uninstalled_at  timestamptz,
    shop_name       text,
    currency        text,
    iana_timezone   text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Offline access tokens, encrypted with ASP.NET Core Data Protection (never stored in clear).
-- access_token_expires_at is NULL only for a legacy non-expiring token.
CREATE TABLE shop_tokens (
    shop_domain              text PRIMARY KEY REFERENCES shops (shop_domain) ON DELETE CASCADE,
    access_token_protected   text NOT NULL,
    access_token_expires_at  timestamptz,
    refresh_token_protected  text,
    refresh_token_expires_at timestamptz,
    scopes                   text NOT NULL,
    obtained_via             text NOT NULL CHECK (obtained_via IN ('token_exchange', 'authorization_code', 'refresh')),
    updated_at               timestamptz NOT NULL DEFAULT now(),
    CHECK ((refresh_token_protected IS NULL) = (refresh_token_expires_at IS NULL))
);

-- Single-use OAuth state nonces for the authorization code grant (also bound to the browser by a cookie).
CREATE TABLE oauth_states (
    state        text PRIMARY KEY,
    shop_domain  text NOT NULL,
    expires_at   timestamptz NOT NULL
);

-- The Data Protection key ring, shared by every instance.
CREATE TABLE data_protection_keys (
    id            bigserial PRIMARY KEY,
    friendly_name text NOT NULL UNIQUE,
    xml           text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- The webhook inbox: each delivery is stored before it is acknowledged and processed afterwards.
-- webhook_id (X-Shopify-Webhook-Id) is unique, so a redelivery is recognised and ignored.
-- payload is the raw body as received (text, not jsonb, so nothing is reordered); it is cleared after
-- the retention period or when the customer it mentions is redacted.
CREATE TABLE webhook_deliveries (
    id                  bigserial PRIMARY KEY,
    webhook_id          text NOT NULL UNIQUE,
    shop_domain         text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    topic               text NOT NULL,
    event_id            text,
    triggered_at        timestamptz,
    api_version         text,
    payload             text,
    customer_id         bigint,
    order_id            bigint,
    status              text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'processing', 'processed', 'skipped', 'failed')),
    attempts            int NOT NULL DEFAULT 0,
    next_attempt_at     timestamptz NOT NULL DEFAULT now(),
    locked_until        timestamptz,
    last_error          text,
    received_at         timestamptz NOT NULL DEFAULT now(),
    processed_at        timestamptz,
    payload_cleared_at  timestamptz
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status IN ('pending', 'processing');
CREATE INDEX webhook_deliveries_shop_status ON webhook_deliveries (shop_domain, status, id);
CREATE INDEX webhook_deliveries_customer ON webhook_deliveries (shop_domain, customer_id) WHERE customer_id IS NOT NULL;
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (shop_domain, order_id) WHERE order_id IS NOT NULL;

-- customers/data_request: the export of everything held on a customer, for the merchant to fetch.
CREATE TABLE customer_data_exports (
    id               bigserial PRIMARY KEY,
    shop_domain      text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id      bigint NOT NULL,
    data_request_id  bigint,
    export           jsonb NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_domain, data_request_id)
);

-- Proof that each compliance request was carried out. Deliberately no foreign key (it outlives
-- shop/redact) and no customer identifiers: only what was done, when, and how many rows.
CREATE TABLE compliance_log (
    id            bigserial PRIMARY KEY,
    shop_domain   text NOT NULL,
    topic         text NOT NULL,
    webhook_id    text NOT NULL UNIQUE,
    summary       jsonb NOT NULL,
    completed_at  timestamptz NOT NULL DEFAULT now()
);
