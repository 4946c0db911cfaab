-- Shopify's cost buckets (0028) are an estimate every Shopify answer resets, written several times per conversion by every
-- instance, always on a shop's one row: as a logged table each write waited for its WAL flush while it held that row, so a
-- shop's calls queued behind each other's disk syncs (issue 16: the shared bucket was most of what 16 conversions at once
-- waited for). Unlogged, a write commits without a flush. What that gives up: after a crash of PostgreSQL the table is
-- empty, and a replica does not have it, so until a shop answers again its calls go ahead unshared, which is how a shop
-- starts anyway, and Shopify's own THROTTLED answer is still handled.
SET LOCAL lock_timeout = '5s';
ALTER TABLE shopify_cost_buckets SET UNLOGGED;
