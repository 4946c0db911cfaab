-- metafield_uncertain_prev: the mark from before the loyalty.coupons write being sent, put back when that write is
-- answered for sure. Each send marks the row first (metafield_uncertain_at = now()), so a send whose answer never
-- arrives (an error, a lost lease, a killed process) stays marked and the list is written once more after the window.
ALTER TABLE conversions ADD COLUMN metafield_uncertain_prev timestamptz;
