-- Campaigns limited to a VIP tier (issue 18): a tier's members carry its customer tag in Shopify, so one Shopify customer segment per
-- tier (customer_tags CONTAINS 'tag') holds exactly them, and a campaign for the tier is a discount whose context is that segment.
-- segment_tag is the tag the segment's query names in Shopify: when it differs from customer_tag the tier-segments job moves it.
SET LOCAL lock_timeout = '5s';

ALTER TABLE tiers ADD COLUMN segment_id text CHECK (segment_id LIKE 'gid://shopify/Segment/%');
ALTER TABLE tiers ADD COLUMN segment_tag text;
ALTER TABLE tiers ADD CONSTRAINT tiers_segment_has_tag CHECK ((segment_id IS NULL) = (segment_tag IS NULL));
-- The segment the tier's live campaigns are still being moved off (the merchant deleted it in Shopify); the job finishes the move.
ALTER TABLE tiers ADD COLUMN segment_moved_from text;
CREATE INDEX tiers_segment_behind ON tiers (id)
    WHERE segment_id IS NOT NULL AND (segment_tag IS DISTINCT FROM customer_tag OR segment_moved_from IS NOT NULL);

-- A campaign is for everyone, listed customers, or one tier's members: never two of these.
ALTER TABLE campaigns ADD COLUMN tier_id bigint REFERENCES tiers (id);
ALTER TABLE campaigns ADD CONSTRAINT campaigns_one_audience CHECK (tier_id IS NULL OR customer_ids IS NULL);
CREATE INDEX campaigns_by_tier ON campaigns (tier_id) WHERE tier_id IS NOT NULL;
