-- Points: per-shop rules, the append-only ledger with per-customer balances, order earnings (awards,
-- refunds, cancellations), customer feedback, and the outbox of ledger rows that must reach a POS.
-- The database is the arbiter of what must never happen: a reference applied twice (unique keys), a
-- spend below zero, a balance that differs from its ledger (triggers below).

-- Rules a merchant sets. No row = the defaults (kept in code, Features/Settings/ShopSettings.cs).
CREATE TABLE shop_settings (
    shop_domain             text PRIMARY KEY REFERENCES shops (shop_domain) ON DELETE CASCADE,
    earn_rate               numeric(12, 4) NOT NULL CHECK (earn_rate >= 0),
    earn_basis              text NOT NULL CHECK (earn_basis IN ('subtotal', 'total')),
    test_orders_earn        boolean NOT NULL,
    point_value             numeric(12, 4) NOT NULL CHECK (point_value > 0),
    min_conversion          bigint NOT NULL CHECK (min_conversion > 0),
    conversion_step         bigint NOT NULL CHECK (conversion_step > 0),
    daily_conversion_limit  bigint NOT NULL CHECK (daily_conversion_limit > 0),
    coupon_validity_days    int NOT NULL CHECK (coupon_validity_days BETWEEN 1 AND 3650),
    feedback_bonus          bigint NOT NULL CHECK (feedback_bonus >= 0),
    feedback_daily_limit    int NOT NULL CHECK (feedback_daily_limit >= 0),
    negative_balance_policy text NOT NULL CHECK (negative_balance_policy IN ('allow_negative', 'floor_at_zero')),
    balance_source          text NOT NULL CHECK (balance_source IN ('ledger', 'pos')),
    pos_base_url            text,
    pos_api_key_protected   text,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    CHECK (balance_source = 'ledger' OR (pos_base_url IS NOT NULL AND pos_api_key_protected IS NOT NULL))
);

-- One row per customer; updated in the same transaction as every ledger row of that customer.
-- total_earned counts earning kinds (net of clawbacks), total_redeemed spending kinds (net of reversals).
CREATE TABLE point_balances (
    shop_domain    text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id    bigint NOT NULL,
    balance        bigint NOT NULL DEFAULT 0,
    total_earned   bigint NOT NULL DEFAULT 0,
    total_redeemed bigint NOT NULL DEFAULT 0,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_domain, customer_id),
    CHECK (balance = total_earned - total_redeemed)
);

CREATE TABLE point_transactions (
    id            bigserial PRIMARY KEY,
    shop_domain   text NOT NULL,
    customer_id   bigint NOT NULL,
    points        bigint NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('order_award', 'refund_clawback', 'cancellation_reversal', 'bonus', 'feedback',
                                               'manual_adjustment', 'conversion', 'conversion_reversal', 'donation', 'donation_reversal')),
    reference     text NOT NULL CHECK (reference ~ '^[A-Za-z0-9_:.-]{1,100}$'),
    description   text NOT NULL,
    actor_type    text NOT NULL CHECK (actor_type IN ('system', 'staff', 'customer')),
    actor_id      text,
    order_id      bigint,
    rate          numeric(12, 4),
    basis_amount  numeric(18, 4),
    currency      text,
    balance_after bigint NOT NULL,
    -- the POS was the balance authority and already accepted this spend: the local ledger (a record of what
    -- this app did, not the balance) may go below zero for it
    pos_authoritative boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shop_domain, reference),
    FOREIGN KEY (shop_domain, customer_id) REFERENCES point_balances (shop_domain, customer_id) ON DELETE CASCADE,
    -- a zero row only records that a clawback or reversal was decided and came to nothing (e.g. floored at zero)
    CHECK (points <> 0 OR kind IN ('refund_clawback', 'cancellation_reversal'))
);
CREATE INDEX point_transactions_customer ON point_transactions (shop_domain, customer_id, id);

-- Before a ledger row goes in: its balance_after must follow from the (locked) balance, and spending
-- may never take a balance below zero.
CREATE FUNCTION point_transactions_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_balance bigint;
BEGIN
    SELECT balance INTO current_balance FROM point_balances
    WHERE shop_domain = NEW.shop_domain AND customer_id = NEW.customer_id FOR UPDATE;
    IF NEW.balance_after <> current_balance + NEW.points THEN
        RAISE EXCEPTION 'balance_after % does not follow from balance % and points %', NEW.balance_after, current_balance, NEW.points;
    END IF;
    IF NEW.points < 0 AND NEW.kind IN ('conversion', 'donation', 'manual_adjustment') AND NOT NEW.pos_authoritative
       AND current_balance + NEW.points < 0 THEN
        RAISE EXCEPTION 'insufficient_points' USING ERRCODE = 'LY001', DETAIL = format('balance %s, requested %s', current_balance, -NEW.points);
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER point_transactions_check BEFORE INSERT ON point_transactions FOR EACH ROW EXECUTE FUNCTION point_transactions_check();

-- The ledger is append-only. Only a compliance erasure (which sets loyalty.erasure = 'on' for its
-- transaction) may delete rows; nothing may update them.
CREATE FUNCTION point_transactions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('loyalty.erasure', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'point_transactions is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER point_transactions_append_only BEFORE UPDATE OR DELETE ON point_transactions
    FOR EACH ROW EXECUTE FUNCTION point_transactions_append_only();

-- At every commit: a balance equals the sum of its customer's ledger rows. A deferred event carries the
-- row as it was when queued, so the check reads the row as it is at commit.
CREATE FUNCTION point_balances_match_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_balance bigint;
    ledger_sum bigint;
BEGIN
    SELECT balance INTO current_balance FROM point_balances
    WHERE shop_domain = NEW.shop_domain AND customer_id = NEW.customer_id;
    IF NOT FOUND THEN
        RETURN NULL; -- erased later in the same transaction
    END IF;
    SELECT coalesce(sum(points), 0) INTO ledger_sum FROM point_transactions
    WHERE shop_domain = NEW.shop_domain AND customer_id = NEW.customer_id;
    IF ledger_sum <> current_balance THEN
        RAISE EXCEPTION 'balance % of customer % differs from its ledger sum %', current_balance, NEW.customer_id, ledger_sum;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER point_balances_match_ledger AFTER INSERT OR UPDATE ON point_balances
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION point_balances_match_ledger();

-- What happened to each order's points, decided once per order.
CREATE TABLE order_earnings (
    shop_domain          text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    order_id             bigint NOT NULL,
    order_name           text,
    customer_id          bigint,
    status               text NOT NULL CHECK (status IN ('awarded', 'skipped', 'cancelled')),
    skip_reason          text,
    basis                text,
    basis_amount         numeric(18, 4),
    currency             text,
    rate                 numeric(12, 4),
    order_total          numeric(18, 4),  -- presentment money, the currency refunds are paid in
    awarded_points       bigint NOT NULL DEFAULT 0 CHECK (awarded_points >= 0),
    taken_back_points    bigint NOT NULL DEFAULT 0 CHECK (taken_back_points >= 0),
    refunded_amount      numeric(18, 4) NOT NULL DEFAULT 0,
    source               text NOT NULL CHECK (source IN ('webhook', 'sweep')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_domain, order_id),
    CHECK (taken_back_points <= awarded_points)
);

-- Every refund seen, applied to its order's award when there is one (a refund may arrive first).
CREATE TABLE order_refunds (
    shop_domain     text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    refund_id       bigint NOT NULL,
    order_id        bigint NOT NULL,
    refunded_amount numeric(18, 4) NOT NULL,
    applied_at      timestamptz,
    clawed_points   bigint,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_domain, refund_id)
);
CREATE INDEX order_refunds_order ON order_refunds (shop_domain, order_id);

CREATE TABLE order_sweeps (
    shop_domain     text PRIMARY KEY REFERENCES shops (shop_domain) ON DELETE CASCADE,
    swept_until     timestamptz NOT NULL,
    last_run_at     timestamptz NOT NULL,
    last_error      text
);

CREATE TABLE customer_feedback (
    id            bigserial PRIMARY KEY,
    shop_domain   text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    customer_id   bigint NOT NULL,
    message       text NOT NULL,
    rating        int CHECK (rating BETWEEN 1 AND 5),
    bonus_points  bigint NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX customer_feedback_customer ON customer_feedback (shop_domain, customer_id, created_at);

-- Ledger rows that must reach the shop's POS (balance source 'pos'), queued in the same transaction.
CREATE TABLE pos_outbox (
    id                 bigserial PRIMARY KEY,
    shop_domain        text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    transaction_id     bigint NOT NULL UNIQUE REFERENCES point_transactions (id) ON DELETE CASCADE,
    customer_id        bigint NOT NULL,
    reference          text NOT NULL,
    points             bigint NOT NULL CHECK (points <> 0),
    state              text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'parked', 'skipped')),
    attempts           int NOT NULL DEFAULT 0,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    last_error         text,
    pos_transaction_id text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    delivered_at       timestamptz,
    UNIQUE (shop_domain, reference)
);
CREATE INDEX pos_outbox_due ON pos_outbox (next_attempt_at) WHERE state = 'pending';
