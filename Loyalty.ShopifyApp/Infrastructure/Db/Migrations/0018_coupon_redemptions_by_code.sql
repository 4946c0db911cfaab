-- A code's usage history (GET /api/admin/coupons/{code}/redemptions) reads its redemptions by code, as Shopify
-- compares codes: case-insensitively.
CREATE INDEX coupon_redemptions_code ON coupon_redemptions (shop_domain, upper(code), created_at);
