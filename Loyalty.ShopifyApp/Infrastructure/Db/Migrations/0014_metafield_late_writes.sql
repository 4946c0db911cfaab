-- metafield_uncertain_at: when a loyalty.coupons write of this conversion was sent and answered with an error or not
-- at all. Shopify may still apply it (up to Conversion:MetafieldLateWriteSeconds later), and its compareDigest is a
-- digest of the value, so a late write based on a list equal to the current one lands on top of it. Until that window
-- has passed, a successful sync leaves the conversion unsynced, to be synced once more after it.
ALTER TABLE conversions ADD COLUMN metafield_uncertain_at timestamptz;
