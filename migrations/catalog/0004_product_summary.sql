-- Counts, stock and price totals per family, category, brand and availability: a few hundred
-- rows however large the catalog, so "how many products and what average price per family"
-- reads them instead of every product. Triggers keep it exact as products change; a group whose
-- last product leaves is removed.
CREATE TABLE product_summary (
    family        TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    brand         TEXT    NOT NULL,
    availability  TEXT    NOT NULL,
    products      INTEGER NOT NULL,
    stock         INTEGER NOT NULL,
    price_sum     REAL    NOT NULL,
    PRIMARY KEY (family, category, brand, availability)
) WITHOUT ROWID;

CREATE TRIGGER product_summary_insert AFTER INSERT ON products BEGIN
    INSERT INTO product_summary (family, category, brand, availability, products, stock, price_sum)
    VALUES (new.family, new.category, new.brand, new.availability, 1, new.stock, new.price)
    ON CONFLICT (family, category, brand, availability) DO UPDATE SET
        products = products + 1, stock = stock + excluded.stock,
        price_sum = price_sum + excluded.price_sum;
END;
CREATE TRIGGER product_summary_delete AFTER DELETE ON products BEGIN
    UPDATE product_summary
    SET products = products - 1, stock = stock - old.stock, price_sum = price_sum - old.price
    WHERE family = old.family AND category = old.category AND brand = old.brand
      AND availability = old.availability;
    DELETE FROM product_summary
    WHERE family = old.family AND category = old.category AND brand = old.brand
      AND availability = old.availability AND products <= 0;
END;
CREATE TRIGGER product_summary_update
AFTER UPDATE OF family, category, brand, availability, stock, price ON products BEGIN
    UPDATE product_summary
    SET products = products - 1, stock = stock - old.stock, price_sum = price_sum - old.price
    WHERE family = old.family AND category = old.category AND brand = old.brand
      AND availability = old.availability;
    DELETE FROM product_summary
    WHERE family = old.family AND category = old.category AND brand = old.brand
      AND availability = old.availability AND products <= 0;
    INSERT INTO product_summary (family, category, brand, availability, products, stock, price_sum)
    VALUES (new.family, new.category, new.brand, new.availability, 1, new.stock, new.price)
    ON CONFLICT (family, category, brand, availability) DO UPDATE SET
        products = products + 1, stock = stock + excluded.stock,
        price_sum = price_sum + excluded.price_sum;
END;

INSERT INTO product_summary (family, category, brand, availability, products, stock, price_sum)
SELECT family, category, brand, availability, count(*), sum(stock), sum(price)
FROM products GROUP BY family, category, brand, availability;
ANALYZE product_summary;
