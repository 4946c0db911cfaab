-- The eligible customers an edit sent to Shopify when Shopify's answer never came: Shopify may have added them. The next edit
-- removes them too unless it keeps them, so a lost answer cannot leave a customer able to use a code our record says they
-- cannot. Cleared when an edit is answered.
ALTER TABLE campaigns ADD COLUMN customer_ids_unconfirmed bigint[];
