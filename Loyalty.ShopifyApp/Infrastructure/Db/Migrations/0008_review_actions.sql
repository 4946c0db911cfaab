-- A conversion sent to needs_review remembers the state it was in, so the merchant's "retry" resumes that
-- step and "cancel" knows whether the points may have been deducted.
ALTER TABLE conversions ADD COLUMN review_from text
    CHECK (review_from IN ('pending', 'coupon_created', 'settling', 'compensating'));
ALTER TABLE conversions ADD COLUMN reviewed_by text;
