-- Merchant coupon campaigns: one Shopify code discount with one or many codes, every code recorded here.
CREATE TABLE campaigns (
    id                  bigserial PRIMARY KEY,
    shop_domain         text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    title               text NOT NULL CHECK (length(title) BETWEEN 1 AND 255),
    discount_type       text NOT NULL CHECK (discount_type IN ('percentage', 'fixed_amount')),
    value               numeric(18, 4) NOT NULL CHECK (value > 0),
    starts_at           timestamptz NOT NULL,
    ends_at             timestamptz,
    usage_limit         int CHECK (usage_limit > 0),
    once_per_customer   boolean NOT NULL,
    minimum_subtotal    numeric(18, 2) CHECK (minimum_subtotal > 0),
    combines_product    boolean NOT NULL,
    combines_order      boolean NOT NULL,
    combines_shipping   boolean NOT NULL,
    customer_ids        bigint[],            -- NULL: everyone
    requested_codes     int NOT NULL CHECK (requested_codes BETWEEN 1 AND 100000),
    state               text NOT NULL CHECK (state IN ('creating', 'generating', 'active', 'failed', 'deactivated')),
    discount_id         text,
    last_error          text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at IS NULL OR ends_at > starts_at)
);
CREATE INDEX campaigns_shop_state ON campaigns (shop_domain, state, id);

-- Batches of at most 250 codes sent with discountRedeemCodeBulkAdd. A batch is recorded before it is sent,
-- so a crash in between is found and checked instead of sent again.
CREATE TABLE campaign_batches (
    id                bigserial PRIMARY KEY,
    campaign_id       bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    state             text NOT NULL CHECK (state IN ('sending', 'sent', 'done')),
    bulk_creation_id  text,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Every code of a campaign, generated before anything is sent; unique per shop whatever the case.
CREATE TABLE campaign_codes (
    campaign_id  bigint NOT NULL REFERENCES campaigns (id) ON DELETE CASCADE,
    shop_domain  text NOT NULL,
    code         text NOT NULL,
    seq          int NOT NULL,              -- 0 is the discount's own first code
    state        text NOT NULL CHECK (state IN ('pending', 'sent', 'created', 'failed')),
    batch_id     bigint REFERENCES campaign_batches (id),
    error        text,
    PRIMARY KEY (campaign_id, seq)
);
CREATE UNIQUE INDEX campaign_codes_unique ON campaign_codes (shop_domain, upper(code));
CREATE INDEX campaign_codes_pending ON campaign_codes (campaign_id, state, seq);
