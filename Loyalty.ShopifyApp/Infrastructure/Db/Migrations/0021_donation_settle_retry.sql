-- A pending POS donation the settler could not settle in a run (the POS cannot tell yet, its shop's POS connection is gone
-- or unreadable) waits until next_settle_at before it is tried again, and the settler takes the most overdue first: a
-- hundred such donations no longer fill every run's batch ahead of the ones it could settle.
ALTER TABLE donations ADD COLUMN next_settle_at timestamptz;

CREATE INDEX donations_to_settle ON donations ((coalesce(next_settle_at, created_at))) WHERE state = 'pending';
