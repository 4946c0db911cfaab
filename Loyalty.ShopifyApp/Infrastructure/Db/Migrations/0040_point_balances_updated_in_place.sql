-- Every award, conversion, refund and expiry updates its customer's balance row. point_balances_positive (0029: the expiry's
-- candidates, WHERE balance > 0) put balance in an index's predicate, so PostgreSQL could never update a balance row in place
-- (a HOT update): each update wrote a new version into every index of the table (issue 16). The candidates are now indexed on
-- has_points, which changes only when a balance crosses zero: an update that leaves it as it was touches no index (PostgreSQL
-- compares the indexed values). Adding the stored column rewrites point_balances once (awards wait meanwhile), each page with
-- a tenth left free for a row's next version. An instance of the build before reads balance > 0 without an index until replaced.
SET LOCAL lock_timeout = '5s';
ALTER TABLE point_balances SET (fillfactor = 90),
    ADD COLUMN IF NOT EXISTS has_points boolean NOT NULL GENERATED ALWAYS AS (balance > 0) STORED;
CREATE INDEX IF NOT EXISTS point_balances_with_points ON point_balances (shop_domain, customer_id) WHERE has_points;
DROP INDEX IF EXISTS point_balances_positive;
