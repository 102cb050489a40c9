-- The demo catalog's schema. A store may point CATALOG_DB at its own file instead; KRATOS then
-- never writes to it and applies none of these migrations.
CREATE TABLE products (
    id            INTEGER PRIMARY KEY,
    sku           TEXT    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    family        TEXT    NOT NULL,
    category      TEXT    NOT NULL,
    brand         TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    color         TEXT,
    description   TEXT    NOT NULL,
    price         REAL    NOT NULL CHECK (price > 0),
    stock         INTEGER NOT NULL CHECK (stock >= 0),
    availability  TEXT    NOT NULL CHECK (availability IN ('disponible', 'agotado', 'por llegar'))
);
CREATE INDEX products_family_price ON products (family, price);
CREATE INDEX products_category_price ON products (category, price);
CREATE INDEX products_brand ON products (brand);
CREATE INDEX products_price ON products (price);
CREATE INDEX products_availability ON products (availability);

-- Full-text search with accents folded: "electronica" finds "Electrónica".
CREATE VIRTUAL TABLE products_fts USING fts5(
    name, brand, category, family, description,
    content='products', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2'
);
CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN
    INSERT INTO products_fts (rowid, name, brand, category, family, description)
    VALUES (new.id, new.name, new.brand, new.category, new.family, new.description);
END;
CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, brand, category, family, description)
    VALUES ('delete', old.id, old.name, old.brand, old.category, old.family, old.description);
END;
CREATE TRIGGER products_fts_update AFTER UPDATE ON products BEGIN
    INSERT INTO products_fts (products_fts, rowid, name, brand, category, family, description)
    VALUES ('delete', old.id, old.name, old.brand, old.category, old.family, old.description);
    INSERT INTO products_fts (rowid, name, brand, category, family, description)
    VALUES (new.id, new.name, new.brand, new.category, new.family, new.description);
END;
