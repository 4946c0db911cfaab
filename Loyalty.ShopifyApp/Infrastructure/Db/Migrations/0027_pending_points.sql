-- Pending points: a shop may hold an order's points for pending_days after payment (its return window). They are the
-- customer's, shown with the date they become available, but not spendable. The ledger keeps them in a second bucket
-- beside the balance, with the same guarantees: every movement is a row with its own reference, and the database holds
-- the bucket equal to the sum of its rows.
--
--   paid, inside the window            order:{id}    points 0      pending +A
--   refund or cancel inside it         refund:/cancel: points 0    pending -share (the same arithmetic as today)
--   the window ends (job or read path) release:{id}  points +A-T   pending -(A-T)    kind pending_release
--   refund or cancel after it          as today      points -share pending 0
--
-- With pending_days 0 (the default) nothing changes: the award goes straight to the balance.
--
-- On a large database: this runs in one transaction and its ALTERs lock the ledger until commit, so it must not queue
-- behind a long transaction (every query would queue behind it): it gives up after lock_timeout and start-up retries. The
-- new CHECKs are NOT VALID and never validated: each is looser than what held every existing row (the old kind list, the
-- old zero-row rule, pending 0), so a scan of the ledger would only prove what is already known.
SET LOCAL lock_timeout = '5s';
ALTER TABLE shop_settings ADD COLUMN pending_days int NOT NULL DEFAULT 0 CHECK (pending_days BETWEEN 0 AND 365);

ALTER TABLE point_balances ADD COLUMN pending bigint NOT NULL DEFAULT 0;
ALTER TABLE point_balances ADD CONSTRAINT point_balances_pending_check CHECK (pending >= 0) NOT VALID;

ALTER TABLE point_transactions
    ADD COLUMN pending_points bigint NOT NULL DEFAULT 0, -- what the row moved in the pending bucket
    ADD COLUMN pending_after  bigint NOT NULL DEFAULT 0;

ALTER TABLE point_transactions DROP CONSTRAINT point_transactions_kind_check;
ALTER TABLE point_transactions ADD CONSTRAINT point_transactions_kind_check CHECK (
    kind IN ('order_award', 'refund_clawback', 'cancellation_reversal', 'bonus', 'feedback', 'manual_adjustment', 'conversion',
             'conversion_reversal', 'donation', 'donation_reversal', 'pending_release')) NOT VALID;
-- A row moves points in one bucket or the other (a release moves them from pending to the balance); a zero row still only
-- records a clawback or reversal that came to nothing.
ALTER TABLE point_transactions DROP CONSTRAINT point_transactions_check;
ALTER TABLE point_transactions ADD CONSTRAINT point_transactions_moves_points CHECK (
    points <> 0 OR pending_points <> 0 OR kind IN ('refund_clawback', 'cancellation_reversal')) NOT VALID;
ALTER TABLE point_transactions ADD CONSTRAINT point_transactions_release_moves_pending CHECK (
    kind <> 'pending_release' OR (points > 0 AND pending_points = -points)) NOT VALID;

-- The merchant's endpoint hears of a release as it hears of an award.
ALTER TABLE outgoing_events DROP CONSTRAINT outgoing_events_type_check;
ALTER TABLE outgoing_events ADD CONSTRAINT outgoing_events_type_check CHECK (
    type IN ('coupon.created', 'coupon.redeemed', 'points.awarded', 'conversion.completed', 'points.released')) NOT VALID;

-- The pending lot is the order's own row: when it was priced plus the shop's pending_days then (a later change of the
-- setting never re-times an order), and when it was released.
ALTER TABLE order_earnings
    ADD COLUMN pending_until timestamptz,
    ADD COLUMN released_at   timestamptz;
CREATE INDEX order_earnings_pending_due ON order_earnings (pending_until)
    WHERE status = 'awarded' AND pending_until IS NOT NULL AND released_at IS NULL;
-- A customer's pending orders: listed on My Page, released on their read.
CREATE INDEX order_earnings_pending_by_customer ON order_earnings (shop_domain, customer_id)
    WHERE status = 'awarded' AND pending_until IS NOT NULL AND released_at IS NULL;

-- Before a ledger row goes in: both buckets' afters follow from the locked balance row; pending never goes below zero;
-- spending never takes the balance below zero. A row that does not move pending points gets its pending_after from the
-- row (an instance still on the code before this migration, during a rolling deploy, does not know the column).
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
    IF NEW.points < 0 AND NEW.kind IN ('conversion', 'donation', 'manual_adjustment') AND NOT NEW.pos_authoritative
       AND current_balance + NEW.points < 0 THEN
        RAISE EXCEPTION 'insufficient_points' USING ERRCODE = 'LY001', DETAIL = format('balance %s, requested %s', current_balance, -NEW.points);
    END IF;
    RETURN NEW;
END $$;

-- At every commit: the balance and the pending bucket each equal the sum of their customer's ledger rows.
CREATE OR REPLACE FUNCTION point_balances_match_ledger() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    current_balance bigint;
    current_pending bigint;
    ledger_sum bigint;
    pending_sum bigint;
BEGIN
    SELECT balance, pending INTO current_balance, current_pending FROM point_balances
    WHERE shop_domain = NEW.shop_domain AND customer_id = NEW.customer_id;
    IF NOT FOUND THEN
        RETURN NULL; -- erased later in the same transaction
    END IF;
    SELECT coalesce(sum(points), 0), coalesce(sum(pending_points), 0) INTO ledger_sum, pending_sum FROM point_transactions
    WHERE shop_domain = NEW.shop_domain AND customer_id = NEW.customer_id;
    IF ledger_sum <> current_balance THEN
        RAISE EXCEPTION 'balance % of customer % differs from its ledger sum %', current_balance, NEW.customer_id, ledger_sum;
    END IF;
    IF pending_sum <> current_pending THEN
        RAISE EXCEPTION 'pending points % of customer % differ from their ledger sum %', current_pending, NEW.customer_id, pending_sum;
    END IF;
    RETURN NULL;
END $$;
