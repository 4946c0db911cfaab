-- The time an order was priced at (the earn rule in force then decided its points) and what gave that time: 'paid' (the
-- orders/paid trigger time or the order's last payment, within the signed order's own times), 'processed' (its processed_at),
-- or 'current' (no time known: the rule of the moment it was handled). So a merchant or auditor can see why an order earned
-- at the rate it did, whichever of the webhook and the sweep priced it. Rows from before this column have neither.
ALTER TABLE order_earnings
    ADD COLUMN priced_at timestamptz,
    ADD COLUMN priced_by text CHECK (priced_by IN ('paid', 'processed', 'current'));
