-- POS circuit breaks shared by the app's instances (issue 19): when an instance's circuit of a shop's POS opens, it writes the
-- break here, and every other instance fails that shop's POS calls fast until it ends (each asks at most every
-- Pos:SharedCircuitRefreshSeconds), so a failing POS is not called N times as often by N instances. A probe that succeeds
-- deletes the row. `connection`: a fingerprint of the POS settings the break was seen with (a hash of the URL and of the key as
-- stored, encrypted; never the key), so a break of an old URL or key never holds back the one a merchant saved since; saving
-- another URL or key also deletes the shop's rows. Times are the database's clock, the same for every instance.
--
-- The foreign key locks shops until commit: behind a long transaction that wrote shops it gives up after lock_timeout (start-up
-- retries) rather than queue every install and uninstall behind it.
SET LOCAL lock_timeout = '5s';
CREATE TABLE pos_circuits (
    shop_domain text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    connection  text NOT NULL CHECK (connection ~ '^[0-9a-f]{16}$'),
    opened_at   timestamptz NOT NULL,
    open_until  timestamptz NOT NULL,
    PRIMARY KEY (shop_domain, connection),
    CHECK (open_until > opened_at)
);
