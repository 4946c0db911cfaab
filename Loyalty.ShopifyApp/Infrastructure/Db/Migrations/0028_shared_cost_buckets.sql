-- Shopify's GraphQL cost bucket per shop (per app and shop at Shopify), shared by every instance of the app: each call
-- reserves its expected cost here before it is sent and each answer's throttleStatus resets the row, so N instances do not
-- each believe they have the whole bucket and over-admit N-fold. `available` may go below zero: cost reserved by calls
-- waiting their turn. It refills at restore_rate per second from `at` (the database's clock, the same for every instance).
-- `waiting`: the cost of calls reserved but not sent yet (by any instance), which Shopify's figure does not count yet; it
-- counts until `waiting_until` (the latest such call's send time, with slack), so an instance that dies mid-wait leaks nothing.
CREATE TABLE shopify_cost_buckets (
    shop_domain  text PRIMARY KEY,
    maximum      double precision NOT NULL CHECK (maximum > 0),
    restore_rate double precision NOT NULL CHECK (restore_rate > 0),
    available    double precision NOT NULL,
    at           timestamptz NOT NULL,
    waiting      double precision NOT NULL DEFAULT 0 CHECK (waiting >= 0),
    waiting_until timestamptz
);
