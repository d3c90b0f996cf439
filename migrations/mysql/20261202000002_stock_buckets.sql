-- Stock in buckets: a product's stock is spread over `products.buckets` rows of stock_buckets
-- (1 by default), so a hot SKU's buyers take different row locks instead of queueing on one.
-- The product's stock is the exact sum of its rows; every row is >= 0 (CHECK), so the total is.
-- Rows 0 .. buckets-1 exist for every product; rows at or above `buckets` (left by lowering it)
-- hold 0 and take no sales (the application user has no DELETE).
CREATE TABLE stock_buckets (
    sku        VARCHAR(64) NOT NULL,
    bucket     INT         NOT NULL,
    stock      INT         NOT NULL,
    updated_at BIGINT      NOT NULL,
    PRIMARY KEY (sku, bucket),
    CONSTRAINT stock_buckets_stock_never_negative CHECK (stock >= 0),
    CONSTRAINT stock_buckets_bucket_range CHECK (bucket >= 0 AND bucket < 64)
) ENGINE = InnoDB;

INSERT INTO stock_buckets (sku, bucket, stock, updated_at)
SELECT sku, 0, stock, updated_at FROM products;

ALTER TABLE products
    ADD COLUMN buckets INT NOT NULL DEFAULT 1,
    ADD CONSTRAINT products_buckets_range CHECK (buckets >= 1 AND buckets <= 64),
    DROP CONSTRAINT products_stock_never_negative,
    DROP COLUMN stock;
