-- Each use of a code this app made (campaign codes and loyalty coupons), from orders/paid, once per order and code.
CREATE TABLE coupon_redemptions (
    id               bigserial PRIMARY KEY,
    shop_domain      text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    code             text NOT NULL,
    campaign_id      bigint REFERENCES campaigns (id) ON DELETE CASCADE,
    conversion_id    text,
    order_id         bigint NOT NULL,
    customer_id      bigint,
    discount_amount  numeric(18, 2) NOT NULL,
    order_amount     numeric(18, 2) NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((campaign_id IS NULL) <> (conversion_id IS NULL))
);
CREATE UNIQUE INDEX coupon_redemptions_once ON coupon_redemptions (shop_domain, order_id, upper(code));
CREATE INDEX coupon_redemptions_campaign ON coupon_redemptions (campaign_id, created_at);
CREATE INDEX coupon_redemptions_customer ON coupon_redemptions (shop_domain, customer_id);
