-- Points that expire. A shop chooses (shop_settings.expiry_mode):
--   never       nothing expires (the default: as before)
--   earned      each lot expires expiry_months after it was credited; spending takes the oldest lots first
--   inactivity  every lot the customer holds expires expiry_months after their last earning or spending
--
-- A lot is every row that earned points into the balance (an award, a release, a bonus, feedback), dated by when its points
-- were earned: occurred_at, which the app states in the program's time (an order's payment, the end of its pending period, a
-- bonus's or a spend's moment), or else when the row was written. A refund or cancellation takes its own order's lot and an expiry the lot it names; every other
-- debit takes the oldest lots first, and a reversal of one (a cancelled coupon, a failed donation) gives back what it took,
-- so it is no lot of its own (a fresh date would renew old points). What a customer holds is always their newest lots that
-- sum to the balance; what lies beyond them is spent. An expiry is a row per lot, kind 'expiry', naming its lot
-- (expires_lot) in its reference expire:{lot id}:{n}; it takes what the lot still holds, computed under the customer's
-- balance lock, so no path expires the same points twice, and points given back to a lot later expire in turn.
--
-- On a large database: one transaction whose ALTERs lock the ledger tables until commit; it gives up after lock_timeout
-- (start-up retries) rather than queue every query behind it. The new CHECKs are NOT VALID: each is looser than what held
-- every existing row, so a scan of the ledger would prove nothing new.
SET LOCAL lock_timeout = '5s';

ALTER TABLE shop_settings
    ADD COLUMN expiry_mode text NOT NULL DEFAULT 'never' CHECK (expiry_mode IN ('never', 'earned', 'inactivity')),
    ADD COLUMN expiry_months int NOT NULL DEFAULT 12 CHECK (expiry_months BETWEEN 1 AND 120),
    -- When the rule in force began: a lot earned before counts from then, so turning expiry on (or shortening it) never takes
    -- points at once. Null: never set (nothing expires).
    ADD COLUMN expiry_since timestamptz;

-- When a lot credited at `earned` expires: `months` calendar months later, counted in UTC whatever the session's time zone
-- (Jan 31 + 1 month = Feb 28/29). The one definition every query uses: the job, the read path, My Page and the dashboard.
CREATE FUNCTION loyalty_expires_at(earned timestamptz, months int) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN ((earned AT TIME ZONE 'UTC') + make_interval(months => months)) AT TIME ZONE 'UTC';

-- occurred_at: when the row happened in the program's time (the sandbox can move it ahead of the real one); null on every
-- row before this migration: its created_at.
-- expires_lot: on an expiry row, the lot (row id) it took its points from.
ALTER TABLE point_transactions ADD COLUMN occurred_at timestamptz, ADD COLUMN expires_lot bigint;
CREATE INDEX point_transactions_expired_lots ON point_transactions (shop_domain, expires_lot) WHERE expires_lot IS NOT NULL;
-- An order's rows of a customer: loyalty_lots() nets each order's lot with its clawbacks through it.
CREATE INDEX point_transactions_by_order ON point_transactions (shop_domain, customer_id, order_id) WHERE order_id IS NOT NULL;

-- A customer's lots and what each has not lost to its own debits: the points it earned, less what refunds and cancellations
-- of its own order took back from the balance (buying and refunding must not renew points about to expire), less what
-- expired of it. The one definition the job, the read path, My Page and the dashboard use.
CREATE FUNCTION loyalty_lots(shop text, customer bigint) RETURNS TABLE (id bigint, points bigint, earned timestamptz)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT t.id,
           t.points
           + coalesce((SELECT sum(c.points) FROM point_transactions c
                       WHERE t.order_id IS NOT NULL AND t.kind IN ('order_award', 'pending_release')
                         AND c.shop_domain = t.shop_domain AND c.customer_id = t.customer_id AND c.order_id = t.order_id
                         AND c.kind IN ('refund_clawback', 'cancellation_reversal')), 0)
           + coalesce((SELECT sum(x.points) FROM point_transactions x WHERE x.shop_domain = t.shop_domain AND x.expires_lot = t.id), 0),
           coalesce(t.occurred_at, t.created_at)
    FROM point_transactions t
    WHERE t.shop_domain = shop AND t.customer_id = customer AND t.points > 0
      AND t.kind NOT IN ('conversion_reversal', 'donation_reversal')
$$;

-- Expired points are neither earned back nor redeemed: they get a total of their own, and the balance is still what was
-- earned less what was redeemed and what expired.
ALTER TABLE point_balances ADD COLUMN total_expired bigint NOT NULL DEFAULT 0;
ALTER TABLE point_balances DROP CONSTRAINT point_balances_check;
ALTER TABLE point_balances ADD CONSTRAINT point_balances_totals_check
    CHECK (balance = total_earned - total_redeemed - total_expired) NOT VALID;

ALTER TABLE point_transactions DROP CONSTRAINT point_transactions_kind_check;
ALTER TABLE point_transactions ADD CONSTRAINT point_transactions_kind_check CHECK (
    kind IN ('order_award', 'refund_clawback', 'cancellation_reversal', 'bonus', 'feedback', 'manual_adjustment', 'conversion',
             'conversion_reversal', 'donation', 'donation_reversal', 'pending_release', 'expiry')) NOT VALID;
-- An expiry only ever takes points away, and never pending ones (they are not the customer's to spend yet).
ALTER TABLE point_transactions ADD CONSTRAINT point_transactions_expiry_takes CHECK (
    kind <> 'expiry' OR (points < 0 AND pending_points = 0 AND expires_lot IS NOT NULL)) NOT VALID;

ALTER TABLE outgoing_events DROP CONSTRAINT outgoing_events_type_check;
ALTER TABLE outgoing_events ADD CONSTRAINT outgoing_events_type_check CHECK (
    type IN ('coupon.created', 'coupon.redeemed', 'points.awarded', 'conversion.completed', 'points.released', 'points.expired')) NOT VALID;

-- Before a ledger row goes in: as in 0027, and an expiry, like a spend, never takes the balance below zero.
CREATE OR REPLACE FUNCTION point_transactions_check() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_balance bigint;
    current_pending bigint;
BEGIN
    SELECT balance, pending INTO current_balance, current_pending FROM point_balances
    WHERE shop_domain = NEW.shop_domain AND customer_id = NEW.customer_id FOR UPDATE;
    IF NEW.balance_after <> current_balance + NEW.points THEN
        RAISE EXCEPTION 'balance_after % does not follow from balance % and points %', NEW.balance_after, current_balance, NEW.points;
    END IF;
    IF NEW.pending_points = 0 THEN
        NEW.pending_after := current_pending;
    END IF;
    IF NEW.pending_after <> current_pending + NEW.pending_points THEN
        RAISE EXCEPTION 'pending_after % does not follow from pending % and pending_points %', NEW.pending_after, current_pending,
            NEW.pending_points;
    END IF;
    IF NEW.pending_after < 0 THEN
        RAISE EXCEPTION 'pending points of customer % would go below zero (%)', NEW.customer_id, NEW.pending_after;
    END IF;
    IF NEW.points < 0 AND NEW.kind IN ('conversion', 'donation', 'manual_adjustment', 'expiry') AND NOT NEW.pos_authoritative
       AND current_balance + NEW.points < 0 THEN
        RAISE EXCEPTION 'insufficient_points' USING ERRCODE = 'LY001', DETAIL = format('balance %s, requested %s', current_balance, -NEW.points);
    END IF;
    RETURN NEW;
END $$;

-- The customers of shops whose points expire, with a balance: the job's candidates.
CREATE INDEX point_balances_positive ON point_balances (shop_domain, customer_id) WHERE balance > 0;
