-- The per-shop jobs of the fan-out (Infrastructure/Jobs/ShopFanOut.cs): when each shop's job of each kind of work was last
-- scheduled, started and finished, and its last error. A run does not schedule a shop's job again while the previous one
-- has not started, so jobs cannot pile up when the workers fall behind; an operator reads each shop's last run here.
CREATE TABLE shop_job_runs (
    work          text NOT NULL,
    shop_domain   text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    scheduled_at  timestamptz NOT NULL,
    started_at    timestamptz,
    finished_at   timestamptz,
    last_error    text,
    job_id        text,         -- the Hangfire job last scheduled: one that is gone before it started frees the shop at once
    PRIMARY KEY (work, shop_domain)
);
