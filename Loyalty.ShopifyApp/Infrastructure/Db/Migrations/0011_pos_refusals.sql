-- A change the POS refused for good (it answered, and did not apply it: customer_not_found, insufficient_points,
-- reference_conflict, …) becomes 'refused' instead of 'parked'. A refused row keeps the POS's error code and HTTP
-- status, is the drift between the ledger and the POS for its customer, and no longer holds back that customer's
-- later rows. 'parked' is left for rows whose outcome kept failing (it may be unknown), which still hold them back.
ALTER TABLE pos_outbox DROP CONSTRAINT pos_outbox_state_check;
ALTER TABLE pos_outbox
    ADD COLUMN refusal_code   text,
    ADD COLUMN refusal_status int,
    ADD COLUMN refused_at     timestamptz;

-- Rows already parked because the POS refused them (their last_error says so) are refusals: release them now.
-- 401/403 refuse the shop's credentials, not the change; those stay parked (see PosSyncJob).
UPDATE pos_outbox
SET state = 'refused',
    refusal_code = substring(last_error FROM '^the POS refused it: (.+) \(HTTP [0-9]{3}\)$'),
    refusal_status = substring(last_error FROM '\(HTTP ([0-9]{3})\)$')::int,
    refused_at = now()
WHERE state = 'parked'
  AND last_error ~ '^the POS refused it: .+ \(HTTP [0-9]{3}\)$'
  AND last_error !~ '\(HTTP 40[13]\)$';

ALTER TABLE pos_outbox ADD CONSTRAINT pos_outbox_state_check
    CHECK (state IN ('pending', 'delivered', 'parked', 'refused', 'skipped'));
ALTER TABLE pos_outbox ADD CONSTRAINT pos_outbox_refusal_check
    CHECK ((state = 'refused') = (refusal_code IS NOT NULL AND refusal_status IS NOT NULL AND refused_at IS NOT NULL));

-- A customer's rows that are not settled at the POS: what holds back their later rows (pending, parked), what a
-- conversion must not spend and the drift shown to the merchant (refused).
CREATE INDEX pos_outbox_unsettled ON pos_outbox (shop_domain, customer_id, id) WHERE state IN ('pending', 'parked', 'refused');
