-- The earning rule in force at each moment, so an order earns at the rate of when it was paid, not of when its
-- webhook happens to be processed or the sweep finds it: a merchant's rate change never re-prices orders paid before it.
-- Written by the trigger below whenever a shop's rate, basis or test-order rule is saved, whoever saves it. Before a
-- shop's first row, the defaults in code (Features/Settings/ShopSettings.cs) were in force.
-- No save may commit between the backfill below and the trigger: it would be recorded by neither.
LOCK TABLE shop_settings IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE earn_rule_changes (
    shop_domain      text NOT NULL REFERENCES shops (shop_domain) ON DELETE CASCADE,
    effective_at     timestamptz NOT NULL,
    earn_rate        numeric(12, 4) NOT NULL CHECK (earn_rate >= 0),
    earn_basis       text NOT NULL CHECK (earn_basis IN ('subtotal', 'total')),
    test_orders_earn boolean NOT NULL,
    PRIMARY KEY (shop_domain, effective_at)
);

-- Shops that saved settings before this table existed: their saved rule is the only one known, so it holds for all time.
INSERT INTO earn_rule_changes (shop_domain, effective_at, earn_rate, earn_basis, test_orders_earn)
SELECT shop_domain, '-infinity', earn_rate, earn_basis, test_orders_earn FROM shop_settings;

CREATE FUNCTION shop_settings_record_earn_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.earn_rate = OLD.earn_rate AND NEW.earn_basis = OLD.earn_basis
       AND NEW.test_orders_earn = OLD.test_orders_earn THEN
        RETURN NEW;
    END IF;
    -- Two saves in one transaction share now(): the last one is the rule from then on.
    INSERT INTO earn_rule_changes (shop_domain, effective_at, earn_rate, earn_basis, test_orders_earn)
    VALUES (NEW.shop_domain, now(), NEW.earn_rate, NEW.earn_basis, NEW.test_orders_earn)
    ON CONFLICT (shop_domain, effective_at) DO UPDATE
        SET earn_rate = excluded.earn_rate, earn_basis = excluded.earn_basis, test_orders_earn = excluded.test_orders_earn;
    RETURN NEW;
END;
$$;

CREATE TRIGGER shop_settings_earn_rule AFTER INSERT OR UPDATE ON shop_settings
    FOR EACH ROW EXECUTE FUNCTION shop_settings_record_earn_rule();
