-- Campaign creation that survives a lost answer and a Shopify outage.
-- The admin page's Idempotency-Key and a fingerprint of the request it came with: a resend gets the first
-- campaign back, the same key with another request is refused. Unique per shop; rows from before have none.
ALTER TABLE campaigns
    ADD COLUMN idempotency_key text CHECK (length(idempotency_key) BETWEEN 1 AND 100),
    ADD COLUMN request_hash    text,
    ADD CONSTRAINT campaigns_key_with_hash CHECK ((idempotency_key IS NULL) = (request_hash IS NULL));
CREATE UNIQUE INDEX campaigns_idempotency ON campaigns (shop_domain, idempotency_key);

-- A code Shopify never got (its campaign failed or was given up while creating) is released: kept for the
-- campaign's history, but no longer reserved, so another campaign may use it.
ALTER TABLE campaign_codes DROP CONSTRAINT campaign_codes_state_check;
ALTER TABLE campaign_codes ADD CONSTRAINT campaign_codes_state_check
    CHECK (state IN ('pending', 'sent', 'created', 'failed', 'released'));
DROP INDEX campaign_codes_unique;
CREATE UNIQUE INDEX campaign_codes_unique ON campaign_codes (shop_domain, upper(code)) WHERE state <> 'released';
