-- Stock in buckets (see migrations/mysql/20261202000002_stock_buckets.sql): the product's stock
-- is the sum of its stock_buckets rows. SQLite has one writer, so it gains no speed from them;
-- it keeps them so that both databases hold the same data and follow the same rules.
CREATE TABLE stock_buckets (
    sku        TEXT    NOT NULL,
    bucket     INTEGER NOT NULL CHECK (bucket >= 0 AND bucket < 64),
    stock      INTEGER NOT NULL CHECK (stock >= 0),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (sku, bucket)
);

INSERT INTO stock_buckets (sku, bucket, stock, updated_at)
SELECT sku, 0, stock, updated_at FROM products;

ALTER TABLE products ADD COLUMN buckets INTEGER NOT NULL DEFAULT 1
    CHECK (buckets >= 1 AND buckets <= 64);
ALTER TABLE products DROP COLUMN stock;
