-- The stored procedures as the migrations in migrations/mysql leave them: what a fresh MariaDB
-- holds after all of them (SHOW CREATE PROCEDURE, definer left out). Generated and checked by
-- `cargo test -p migrate current` (lambdas/migrate/src/current.rs); nothing runs this file.
--
-- donut_sell is the sale rule on MySQL (docs/architecture.md, "The sale rule"); SQLite and the
-- memory store follow it, held to it by the contract suite (tests/tests/store/sale_rule.rs).
-- To change a procedure: a new migration (DROP PROCEDURE IF EXISTS p; CREATE PROCEDURE p ...,
-- copied from here; same parameters and result columns, else a new name: docs/migrations.md),
-- then `UPDATE_SNAPSHOT=1 cargo test -p migrate current` rewrites this file.

CREATE PROCEDURE donut_open_order(
    IN p_sku VARCHAR(64),
    IN p_quantity INT,
    IN p_corr VARCHAR(128),
    IN p_now BIGINT,
    IN p_order_id CHAR(36),
    IN p_event_id CHAR(36),
    OUT o_id CHAR(36),
    OUT o_status VARCHAR(16),
    OUT o_quantity INT,
    OUT o_opened INT
)
    MODIFIES SQL DATA
BEGIN
    DECLARE v_duplicate INT DEFAULT 0;
    DECLARE CONTINUE HANDLER FOR NOT FOUND BEGIN END;
    DECLARE CONTINUE HANDLER FOR 1062 SET v_duplicate = 1;
    SET o_id = NULL, o_status = NULL, o_quantity = NULL, o_opened = 0;
    SELECT id, status, quantity INTO o_id, o_status, o_quantity
    FROM factory_orders WHERE sku = p_sku AND status IN ('pending', 'requested');
    IF o_id IS NULL THEN
        INSERT INTO factory_orders (id, sku, quantity, status, attempts, correlation_id,
                                    created_at, updated_at)
        VALUES (p_order_id, p_sku, p_quantity, 'pending', 0, p_corr, p_now, p_now);
        IF v_duplicate = 1 THEN
            -- Another transaction opened it and committed: a locking read sees it (a plain one
            -- would use this transaction's older snapshot).
            SELECT id, status, quantity INTO o_id, o_status, o_quantity
            FROM factory_orders WHERE sku = p_sku AND status IN ('pending', 'requested')
            LOCK IN SHARE MODE;
        ELSE
            SET o_id = p_order_id, o_status = 'pending', o_quantity = p_quantity, o_opened = 1;
            INSERT INTO factory_order_transitions (factory_order_id, status, note, at)
            VALUES (p_order_id, 'pending', 'stock-out: factory order opened', p_now);
            INSERT INTO outbox (id, factory_order_id, payload, created_at)
            VALUES (p_event_id, p_order_id,
                    JSON_OBJECT('schema_version', 1, 'event_id', p_event_id,
                                'factory_order_id', p_order_id, 'sku', p_sku,
                                'quantity', CAST(p_quantity AS SIGNED INTEGER),
                                'correlation_id', p_corr,
                                'occurred_at', CAST(p_now AS SIGNED INTEGER)),
                    p_now);
        END IF;
    END IF;
END;

CREATE PROCEDURE donut_sell(
    IN p_id CHAR(36),
    IN p_sku VARCHAR(64),
    IN p_qty INT,
    IN p_key VARCHAR(128),
    IN p_hash CHAR(64),
    IN p_corr VARCHAR(128),
    IN p_now BIGINT,
    IN p_order_id CHAR(36),
    IN p_event_id CHAR(36)
)
    MODIFIES SQL DATA
BEGIN
    DECLARE v_duplicate INT DEFAULT 0;
    DECLARE v_outcome VARCHAR(8) DEFAULT 'sold';
    DECLARE v_buckets INT DEFAULT NULL;
    DECLARE v_bucket INT DEFAULT 0;
    DECLARE v_rows INT DEFAULT 0;
    DECLARE v_total BIGINT DEFAULT NULL;
    DECLARE v_stock BIGINT DEFAULT NULL;
    DECLARE v_reorder_point INT DEFAULT NULL;
    DECLARE v_reorder_quantity INT DEFAULT NULL;
    DECLARE v_order_id CHAR(36) DEFAULT NULL;
    DECLARE v_order_status VARCHAR(16) DEFAULT NULL;
    DECLARE v_order_quantity INT DEFAULT NULL;
    DECLARE v_opened INT DEFAULT 0;
    DECLARE v_recheck_failed INT DEFAULT 0;
    DECLARE CONTINUE HANDLER FOR NOT FOUND BEGIN END;
    DECLARE CONTINUE HANDLER FOR 1062 SET v_duplicate = 1;
    DECLARE EXIT HANDLER FOR SQLEXCEPTION
    BEGIN
        ROLLBACK;
        RESIGNAL;
    END;

    START TRANSACTION;
    INSERT INTO sales (id, sku, quantity, remaining_stock, idempotency_key, request_hash,
                       correlation_id, created_at)
    VALUES (p_id, p_sku, p_qty, NULL, p_key, p_hash, p_corr, p_now);
    IF v_duplicate = 1 THEN
        SET v_outcome = 'replay';
    ELSE
        -- Not locked: the sale does not hold the product row, only the stock it takes.
        SELECT buckets, reorder_point, reorder_quantity
        INTO v_buckets, v_reorder_point, v_reorder_quantity
        FROM products WHERE sku = p_sku;
        IF v_buckets IS NULL THEN
            SET v_outcome = 'refused';
        ELSE
            -- Picked once, into a variable: RAND() in the WHERE clause would be evaluated per
            -- row (scanning and locking every bucket, matching zero or several).
            SET v_bucket = IF(v_buckets > 1, FLOOR(RAND() * v_buckets), 0);
            UPDATE stock_buckets SET stock = stock - p_qty, updated_at = p_now
            WHERE sku = p_sku AND bucket = v_bucket AND stock >= p_qty;
            IF ROW_COUNT() = 1 THEN
                -- This transaction's own bucket plus the others as last committed.
                SELECT CAST(SUM(stock) AS SIGNED INTEGER) INTO v_stock
                FROM stock_buckets WHERE sku = p_sku;
            ELSEIF v_buckets = 1 THEN
                SET v_outcome = 'refused';
            ELSE
                -- The bucket is short: start over holding the product row and every bucket.
                ROLLBACK;
                START TRANSACTION;
                SELECT buckets, reorder_point, reorder_quantity
                INTO v_buckets, v_reorder_point, v_reorder_quantity
                FROM products WHERE sku = p_sku LOCK IN SHARE MODE;
                SELECT COUNT(*), CAST(COALESCE(SUM(stock), 0) AS SIGNED INTEGER)
                INTO v_rows, v_total
                FROM stock_buckets WHERE sku = p_sku FOR UPDATE;
                SET v_duplicate = 0;
                INSERT INTO sales (id, sku, quantity, remaining_stock, idempotency_key,
                                   request_hash, correlation_id, created_at)
                VALUES (p_id, p_sku, p_qty, NULL, p_key, p_hash, p_corr, p_now);
                -- Rows 0 .. buckets-1 exist (the admin PUT creates them under these locks);
                -- never spread over rows that do not.
                SET v_buckets = LEAST(v_buckets, v_rows);
                IF v_duplicate = 1 THEN
                    SET v_outcome = 'replay';
                ELSEIF v_buckets IS NULL OR v_buckets < 1 OR v_total < p_qty THEN
                    SET v_outcome = 'refused';
                ELSE
                    SET v_stock = v_total - p_qty;
                    UPDATE stock_buckets
                    SET stock = IF(bucket < v_buckets,
                                   v_stock DIV v_buckets + (bucket < v_stock MOD v_buckets), 0),
                        updated_at = p_now
                    WHERE sku = p_sku;
                END IF;
            END IF;
        END IF;
    END IF;

    IF v_outcome <> 'sold' THEN
        ROLLBACK;
        SELECT v_outcome AS outcome, CAST(NULL AS SIGNED INTEGER) AS remaining,
               CAST(NULL AS CHAR) AS order_id, CAST(NULL AS CHAR) AS order_status,
               CAST(NULL AS SIGNED INTEGER) AS order_quantity, 0 AS opened,
               0 AS recheck_failed;
    ELSE
        IF p_key IS NOT NULL THEN
            -- Only a keyed sale can be replayed, so only it needs the remaining stock.
            UPDATE sales SET remaining_stock = v_stock WHERE id = p_id;
        END IF;
        IF v_stock <= v_reorder_point THEN
            CALL donut_open_order(p_sku, v_reorder_quantity, p_corr, p_now, p_order_id,
                                  p_event_id, v_order_id, v_order_status, v_order_quantity,
                                  v_opened);
        END IF;
        COMMIT;
        IF v_buckets > 1 AND v_order_id IS NULL THEN
            -- The sale has committed: an error from here on must not reach the client as a
            -- failed sale (it would be retried and sold twice). It is reported in the answer
            -- (`recheck_failed`), and the SKU's next sale or refusal checks again.
            BEGIN
                DECLARE EXIT HANDLER FOR SQLEXCEPTION
                BEGIN
                    ROLLBACK;
                    SET v_recheck_failed = 1, v_order_id = NULL, v_order_status = NULL,
                        v_order_quantity = NULL, v_opened = 0;
                END;
                -- The committed total: it includes every sale that committed before this one.
                SELECT CAST(COALESCE(SUM(stock), 0) AS SIGNED INTEGER) INTO v_total
                FROM stock_buckets WHERE sku = p_sku;
                IF v_total <= v_reorder_point THEN
                    START TRANSACTION;
                    CALL donut_open_order(p_sku, v_reorder_quantity, p_corr, p_now, p_order_id,
                                          p_event_id, v_order_id, v_order_status,
                                          v_order_quantity, v_opened);
                    COMMIT;
                END IF;
            END;
        END IF;
        SELECT 'sold' AS outcome, CAST(v_stock AS SIGNED INTEGER) AS remaining,
               v_order_id AS order_id, v_order_status AS order_status,
               CAST(v_order_quantity AS SIGNED INTEGER) AS order_quantity,
               v_opened AS opened, v_recheck_failed AS recheck_failed;
    END IF;
END;
