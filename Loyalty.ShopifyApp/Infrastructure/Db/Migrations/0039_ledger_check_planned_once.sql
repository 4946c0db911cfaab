-- point_transactions_check runs before every ledger row and reads its customer's balance row by the primary key. Under the
-- app's plan_cache_mode = force_custom_plan (Database:ForceCustomPlans) that read was planned again on every row (issue 16,
-- `--profile`: as long to plan as to run). A key lookup has one right plan for every customer, so the function keeps a generic
-- plan per session; enable_seqscan = off keeps it on the key even when it was made while point_balances was a page (a scan
-- kept until the next ANALYZE would read every balance of a grown table for every row). What it checks does not change.
-- point_balances_match_ledger keeps planning per call: its ledger sum, planned generically while the ledger is small, takes
-- the shop's index (shop_domain, id) and would then read the shop's whole ledger for every balance written.
SET LOCAL lock_timeout = '5s';
ALTER FUNCTION point_transactions_check() SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION point_transactions_check() SET enable_seqscan = off;
