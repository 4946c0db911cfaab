-- Shopify's GraphQL cost bucket per shop (per app and shop at Shopify), shared by every instance of the app: each call
-- reserves its expected cost here before it is sent and each answer's throttleStatus resets the row, so N instances do not
-- each believe they have the whole bucket and over-admit N-fold. `available` may go below zero: cost reserved by calls
-- waiting their turn. It refills at restore_rate per second from `at` (the database's clock, the same for every instance).
CREATE TABLE shopify_cost_buckets (
    shop_domain  text PRIMARY KEY,
    maximum      double precision NOT NULL CHECK (maximum > 0),
    restore_rate double precision NOT NULL CHECK (restore_rate > 0),
    available    double precision NOT NULL,
    at           timestamptz NOT NULL
);
