-- The processor claims ready deliveries shop by shop in turns (one shop's flood must not hold back another shop's points):
-- it walks the shops with due work along this index and takes each shop's oldest. Building it scans webhook_deliveries once
-- (intake waits meanwhile; the table keeps Webhooks:DeliveryRetentionDays of rows). webhook_deliveries_due stays for
-- instances still running the previous claim during a rolling deploy; a later migration drops it.
CREATE INDEX webhook_deliveries_ready_by_shop ON webhook_deliveries (shop_domain, next_attempt_at, id) WHERE status IN ('pending', 'processing');
