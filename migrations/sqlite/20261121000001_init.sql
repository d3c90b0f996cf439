-- Donut inventory schema (SQLite, the embedded default). Same tables and invariants as the
-- MySQL schema; times are INTEGER milliseconds since the Unix epoch.

CREATE TABLE products (
    sku              TEXT    NOT NULL PRIMARY KEY,
    name             TEXT    NOT NULL,
    stock            INTEGER NOT NULL CHECK (stock >= 0),
    reorder_point    INTEGER NOT NULL DEFAULT 0 CHECK (reorder_point >= 0),
    reorder_quantity INTEGER NOT NULL DEFAULT 100 CHECK (reorder_quantity > 0),
    updated_at       INTEGER NOT NULL
);

CREATE TABLE sales (
    id               TEXT    NOT NULL PRIMARY KEY,
    sku              TEXT    NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity > 0),
    remaining_stock  INTEGER NULL,
    idempotency_key  TEXT    NULL UNIQUE,
    request_hash     TEXT    NULL,
    correlation_id   TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX sales_by_sku ON sales (sku, created_at);
CREATE INDEX sales_by_time ON sales (created_at);

CREATE TABLE factory_orders (
    id             TEXT    NOT NULL PRIMARY KEY,
    sku            TEXT    NOT NULL,
    quantity       INTEGER NOT NULL CHECK (quantity > 0),
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'requested', 'fulfilled', 'failed')),
    attempts       INTEGER NOT NULL DEFAULT 0,
    factory_ref    TEXT    NULL,
    last_error     TEXT    NULL,
    last_event_id  TEXT    NULL,
    correlation_id TEXT    NOT NULL,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL,
    requested_at   INTEGER NULL
);
-- At most one open order per SKU, under any concurrency.
CREATE UNIQUE INDEX factory_orders_one_open_per_sku ON factory_orders (sku)
    WHERE status IN ('pending', 'requested');
CREATE INDEX factory_orders_by_status ON factory_orders (status, requested_at);
CREATE INDEX factory_orders_by_sku ON factory_orders (sku, created_at);

CREATE TABLE factory_order_transitions (
    id               INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    factory_order_id TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    note             TEXT    NULL,
    at               INTEGER NOT NULL
);
CREATE INDEX transitions_by_order ON factory_order_transitions (factory_order_id, id);

CREATE TABLE restocks (
    factory_order_id TEXT    NOT NULL PRIMARY KEY,
    sku              TEXT    NOT NULL,
    quantity         INTEGER NOT NULL,
    correlation_id   TEXT    NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX restocks_by_sku ON restocks (sku, created_at);

CREATE TABLE outbox (
    id               TEXT    NOT NULL PRIMARY KEY,
    factory_order_id TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    created_at       INTEGER NOT NULL,
    published_at     INTEGER NULL,
    attempts         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_unpublished ON outbox (published_at, created_at);
