-- Every delivery writes three row versions (intake, claim, processed mark), and the status change in each means no HOT
-- update, so each version goes into every index of webhook_deliveries (issue 16: the inbox's writes were the largest share
-- of the database's work per award). webhook_deliveries_due (0001) was kept by 0025 only for instances still running the
-- claim before the turns by shop during a rolling deploy; no query of this build uses it (the claim, the backlog metric and
-- the purge read webhook_deliveries_ready_by_shop, which covers the same rows, or the table itself).
SET LOCAL lock_timeout = '5s';
DROP INDEX IF EXISTS webhook_deliveries_due;
