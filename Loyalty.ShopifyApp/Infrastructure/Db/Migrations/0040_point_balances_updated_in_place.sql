-- Every award, conversion, refund and expiry updates its customer's balance row. point_balances_positive (0029: the expiry's
-- candidates, WHERE balance > 0) made each of those updates a new row version in every index of the table: a column in an
-- index's predicate changed, so PostgreSQL could not update the row in place (a HOT update), and the primary key grew an entry
-- per award (issue 16). Without it a balance update touches no index. The expiry's walk and the dashboard's outstanding sum
-- read a shop's balances by the primary key and pass over the zero ones. Pages keep a tenth free for the row's next version.
SET LOCAL lock_timeout = '5s';
DROP INDEX IF EXISTS point_balances_positive;
ALTER TABLE point_balances SET (fillfactor = 90);
