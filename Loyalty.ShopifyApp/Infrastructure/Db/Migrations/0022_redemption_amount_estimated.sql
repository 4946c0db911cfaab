-- A use the missed-order sweep recorded carries an estimate of what the code took off: the Admin API names an order's codes
-- without their amounts (one code is given the order's whole discount, several 0 each). The order's own orders/paid webhook,
-- when it comes after the sweep, has the exact amount and replaces the estimate, once. Uses recorded before this column
-- existed count as exact: which of them the sweep recorded is not known.
ALTER TABLE coupon_redemptions ADD COLUMN amount_estimated boolean NOT NULL DEFAULT false;

-- A code's uses are read newest first a page at a time (and exported a thousand at a time) by id.
CREATE INDEX coupon_redemptions_code_id ON coupon_redemptions (shop_domain, upper(code), id);
