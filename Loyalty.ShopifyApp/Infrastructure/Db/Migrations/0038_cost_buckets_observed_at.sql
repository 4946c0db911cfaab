-- When the Shopify answer behind a bucket's figure came (issue 16: an answer's figure is now written behind the call). Two
-- instances' writes can land out of order; the row keeps the figure of the latest answer, never an older one written after it.
-- Reservations do not touch it (they move "at", the refill's clock). Null until an answer is written under this rule.
SET LOCAL lock_timeout = '5s';
ALTER TABLE shopify_cost_buckets ADD COLUMN IF NOT EXISTS observed_at timestamptz;
