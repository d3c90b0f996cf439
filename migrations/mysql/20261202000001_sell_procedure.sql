-- One round trip per sale. The whole sale runs on the server, so no client<->database round
-- trip happens while the hot product row is locked: with durable commits (RDS: binlog,
-- sync_binlog=1, innodb_flush_log_at_trx_commit=1) a SKU then sells at about
-- 1 / (commit latency) instead of 1 / (commit latency + round trips under the lock).
--
-- Same guarantees as the statements it replaces (lambdas/inventory/src/store/mysql.rs):
-- - the sale row is inserted first: a reused idempotency key (1062) rolls back before the hot
--   row is touched, and the client replays the original sale;
-- - the decrement is conditional (`stock >= qty`) and the CHECK constraint backs it up;
--   no row updated -> rolled back, the client takes the refusal path;
-- - at or below the reorder point, the SKU's one open factory order is found or opened (the
--   unique key on open_sku decides races), with its audit transition and its outbox event, in
--   the same transaction;
-- - any error rolls back and is re-raised with its own error number (lock wait 1205, deadlock
--   1213, ...), which the client classifies as before.
-- Runs with its definer's rights (the migrating user): the application user needs only EXECUTE
-- on it (lambdas/migrate/src/app_user.rs).
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
    DECLARE v_stock INT DEFAULT NULL;
    DECLARE v_reorder_point INT DEFAULT NULL;
    DECLARE v_reorder_quantity INT DEFAULT NULL;
    DECLARE v_order_id CHAR(36) DEFAULT NULL;
    DECLARE v_order_status VARCHAR(16) DEFAULT NULL;
    DECLARE v_order_quantity INT DEFAULT NULL;
    DECLARE v_opened INT DEFAULT 0;
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
        ROLLBACK;
        SELECT 'replay' AS outcome, CAST(NULL AS SIGNED INTEGER) AS remaining,
               CAST(NULL AS CHAR) AS order_id, CAST(NULL AS CHAR) AS order_status,
               CAST(NULL AS SIGNED INTEGER) AS order_quantity, 0 AS opened;
    ELSE
        UPDATE products SET stock = stock - p_qty, updated_at = p_now
        WHERE sku = p_sku AND stock >= p_qty;
        IF ROW_COUNT() = 0 THEN
            ROLLBACK;
            SELECT 'refused' AS outcome, CAST(NULL AS SIGNED INTEGER) AS remaining,
                   CAST(NULL AS CHAR) AS order_id, CAST(NULL AS CHAR) AS order_status,
                   CAST(NULL AS SIGNED INTEGER) AS order_quantity, 0 AS opened;
        ELSE
            -- This transaction holds the row's lock: the values it just wrote.
            SELECT stock, reorder_point, reorder_quantity
            INTO v_stock, v_reorder_point, v_reorder_quantity
            FROM products WHERE sku = p_sku;
            IF p_key IS NOT NULL THEN
                -- Only a keyed sale can be replayed, so only it needs the remaining stock.
                UPDATE sales SET remaining_stock = v_stock WHERE id = p_id;
            END IF;
            IF v_stock <= v_reorder_point THEN
                SELECT id, status, quantity INTO v_order_id, v_order_status, v_order_quantity
                FROM factory_orders WHERE sku = p_sku AND status IN ('pending', 'requested');
                IF v_order_id IS NULL THEN
                    SET v_duplicate = 0;
                    INSERT INTO factory_orders (id, sku, quantity, status, attempts,
                                                correlation_id, created_at, updated_at)
                    VALUES (p_order_id, p_sku, v_reorder_quantity, 'pending', 0, p_corr,
                            p_now, p_now);
                    IF v_duplicate = 1 THEN
                        -- Another transaction opened it and committed: a locking read sees it
                        -- (a plain one would use this transaction's older snapshot).
                        SELECT id, status, quantity
                        INTO v_order_id, v_order_status, v_order_quantity
                        FROM factory_orders
                        WHERE sku = p_sku AND status IN ('pending', 'requested')
                        LOCK IN SHARE MODE;
                    ELSE
                        SET v_order_id = p_order_id, v_order_status = 'pending',
                            v_order_quantity = v_reorder_quantity, v_opened = 1;
                        INSERT INTO factory_order_transitions (factory_order_id, status, note, at)
                        VALUES (p_order_id, 'pending', 'stock-out: factory order opened', p_now);
                        INSERT INTO outbox (id, factory_order_id, payload, created_at)
                        VALUES (p_event_id, p_order_id,
                                JSON_OBJECT('schema_version', 1, 'event_id', p_event_id,
                                            'factory_order_id', p_order_id, 'sku', p_sku,
                                            'quantity', v_reorder_quantity,
                                            'correlation_id', p_corr, 'occurred_at', p_now),
                                p_now);
                    END IF;
                END IF;
            END IF;
            COMMIT;
            SELECT 'sold' AS outcome, CAST(v_stock AS SIGNED INTEGER) AS remaining,
                   v_order_id AS order_id, v_order_status AS order_status,
                   CAST(v_order_quantity AS SIGNED INTEGER) AS order_quantity,
                   v_opened AS opened;
        END IF;
    END IF;
END;
