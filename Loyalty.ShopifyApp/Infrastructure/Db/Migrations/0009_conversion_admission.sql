-- coupon_requested_at: set just before the coupon creation is sent to Shopify. A conversion without it never
-- reached Shopify (it waited for the shop's API cost bucket), so the coupon need not be looked up before creating
-- it, however long it waited. Conversions already pending when this runs may have sent it: assume they did.
ALTER TABLE conversions ADD COLUMN coupon_requested_at timestamptz;
UPDATE conversions SET coupon_requested_at = created_at WHERE state = 'pending';

-- balance_after: the balance the deduction left (the POS's answer, or the ledger's), shown with the new code, so the
-- request does not ask the POS again.
ALTER TABLE conversions ADD COLUMN balance_after bigint;
