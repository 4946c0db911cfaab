-- A donation carries the money it represents: its points × the shop's point value when it was made, in the shop's
-- currency, fixed then (a later change of the point value does not change what was pledged).
ALTER TABLE donations ADD COLUMN money_value numeric(18, 2), ADD COLUMN currency text;

-- Donations made before this column: the value when they were made was not kept; today's point value is the best known
-- (a shop that never saved its settings has the default, 1, as in Features/Settings/ShopSettings.cs).
UPDATE donations d SET money_value = round(d.points * coalesce(s.point_value, 1), 2), currency = coalesce(sh.currency, '')
FROM shops sh LEFT JOIN shop_settings s ON s.shop_domain = sh.shop_domain
WHERE sh.shop_domain = d.shop_domain;

ALTER TABLE donations ALTER COLUMN money_value SET NOT NULL, ALTER COLUMN currency SET NOT NULL,
    ADD CHECK (money_value >= 0);
