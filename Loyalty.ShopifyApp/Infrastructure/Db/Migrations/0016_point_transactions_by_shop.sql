-- The merchant's ledger list (GET /api/admin/point-transactions) reads a shop's rows newest first; the existing index
-- is per customer. A shop-wide page is an index range scan with this one.
CREATE INDEX point_transactions_shop ON point_transactions (shop_domain, id);
