-- From this version a shop that never saved settings earns nothing (rate 0, on the order total) until its merchant
-- sets a rate, as seed 003 asks. Shops that exist already ran on the previous defaults in code (1 point per unit of
-- the subtotal, test orders not earning, a point worth 1, codes from 100 in steps of 100, 10,000 a day, 30 days,
-- 10 points per feedback once a day, negative balances allowed, the ledger): nothing about them may change under
-- them, neither what they earn from now on nor what an order paid before earns when it is processed late.
-- A save may not commit between the statements below (it would be pinned by one and not the other), nor may an install (an
-- instance still on the previous version installing a shop meanwhile would leave it unpinned).
LOCK TABLE shops IN SHARE MODE;
LOCK TABLE shop_settings IN SHARE ROW EXCLUSIVE MODE;

-- Before a shop's first save, the previous defaults were in force: an order paid then keeps their rate. Shops that
-- saved before migration 0017 already have their rule from the start of time, and keep it.
INSERT INTO earn_rule_changes (shop_domain, effective_at, earn_rate, earn_basis, test_orders_earn)
SELECT shop_domain, '-infinity', 1, 'subtotal', false FROM shops
ON CONFLICT (shop_domain, effective_at) DO NOTHING;

-- Shops that never saved: their settings become the previous defaults, saved (the trigger records the same rule
-- from now on, which the row above already says).
INSERT INTO shop_settings (shop_domain, earn_rate, earn_basis, test_orders_earn, point_value, min_conversion, conversion_step,
                           daily_conversion_limit, coupon_validity_days, feedback_bonus, feedback_daily_limit,
                           negative_balance_policy, balance_source)
SELECT shop_domain, 1, 'subtotal', false, 1, 100, 100, 10000, 30, 10, 1, 'allow_negative', 'ledger' FROM shops
ON CONFLICT (shop_domain) DO NOTHING;
