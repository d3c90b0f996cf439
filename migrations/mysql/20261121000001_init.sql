-- Donut inventory schema (MySQL 8 / MariaDB 10.6+). Invariants live here, not in application code.
-- Times are BIGINT milliseconds since the Unix epoch (identical in MySQL and SQLite).

CREATE TABLE products (
    sku              VARCHAR(64)  NOT NULL PRIMARY KEY,
    name             VARCHAR(200) NOT NULL,
    stock            INT          NOT NULL,
    reorder_point    INT          NOT NULL DEFAULT 0,
    reorder_quantity INT          NOT NULL DEFAULT 100,
    updated_at       BIGINT       NOT NULL,
    CONSTRAINT products_stock_never_negative CHECK (stock >= 0),
    CONSTRAINT products_reorder_point_nonneg CHECK (reorder_point >= 0),
    CONSTRAINT products_reorder_quantity_pos CHECK (reorder_quantity > 0)
) ENGINE = InnoDB;

-- No foreign key to products on purpose: an FK check takes a shared lock on the hot product
-- row, which then has to be upgraded by the conditional UPDATE (deadlocks under a flash sale).
-- A sale row only ever commits together with the successful decrement of that row.
CREATE TABLE sales (
    id               CHAR(36)     NOT NULL PRIMARY KEY,
    sku              VARCHAR(64)  NOT NULL,
    quantity         INT          NOT NULL,
    remaining_stock  INT          NULL,
    idempotency_key  VARCHAR(128) NULL,
    request_hash     CHAR(64)     NULL,
    correlation_id   VARCHAR(128) NOT NULL,
    created_at       BIGINT       NOT NULL,
    CONSTRAINT sales_quantity_pos CHECK (quantity > 0),
    UNIQUE KEY sales_idempotency_key (idempotency_key),
    KEY sales_by_sku (sku, created_at),
    KEY sales_by_time (created_at)
) ENGINE = InnoDB;

CREATE TABLE factory_orders (
    id                  CHAR(36)      NOT NULL PRIMARY KEY,
    sku                 VARCHAR(64)   NOT NULL,
    quantity            INT           NOT NULL,
    status              VARCHAR(16)   NOT NULL,
    attempts            INT           NOT NULL DEFAULT 0,
    factory_ref         VARCHAR(200)  NULL,
    last_error          VARCHAR(1000) NULL,
    last_event_id       CHAR(36)      NULL,
    correlation_id      VARCHAR(128)  NOT NULL,
    created_at          BIGINT        NOT NULL,
    updated_at          BIGINT        NOT NULL,
    requested_at        BIGINT        NULL,
    -- NULL unless the order is open; the unique key below then allows at most one open
    -- order per SKU, under any concurrency.
    open_sku            VARCHAR(64) AS (CASE WHEN status IN ('pending', 'requested') THEN sku END) STORED,
    CONSTRAINT factory_orders_status CHECK (status IN ('pending', 'requested', 'fulfilled', 'failed')),
    CONSTRAINT factory_orders_quantity_pos CHECK (quantity > 0),
    UNIQUE KEY factory_orders_one_open_per_sku (open_sku),
    KEY factory_orders_by_status (status, requested_at),
    KEY factory_orders_by_sku (sku, created_at)
) ENGINE = InnoDB;

CREATE TABLE factory_order_transitions (
    id               BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    factory_order_id CHAR(36)      NOT NULL,
    status           VARCHAR(16)   NOT NULL,
    note             VARCHAR(1000) NULL,
    at               BIGINT        NOT NULL,
    KEY transitions_by_order (factory_order_id, id)
) ENGINE = InnoDB;

-- Exactly one restock per fulfilled factory order, enforced by the primary key.
CREATE TABLE restocks (
    factory_order_id CHAR(36)     NOT NULL PRIMARY KEY,
    sku              VARCHAR(64)  NOT NULL,
    quantity         INT          NOT NULL,
    correlation_id   VARCHAR(128) NOT NULL,
    created_at       BIGINT       NOT NULL,
    KEY restocks_by_sku (sku, created_at)
) ENGINE = InnoDB;

-- Transactional outbox: written in the sale's transaction, published after commit or by the relay.
CREATE TABLE outbox (
    id               CHAR(36)    NOT NULL PRIMARY KEY,
    factory_order_id CHAR(36)    NOT NULL,
    payload          TEXT        NOT NULL,
    created_at       BIGINT      NOT NULL,
    published_at     BIGINT      NULL,
    attempts         INT         NOT NULL DEFAULT 0,
    KEY outbox_unpublished (published_at, created_at)
) ENGINE = InnoDB;
