-- The stock-out event's numbers as JSON numbers. MariaDB (10.11 here, with a utf8mb4 server)
-- writes a procedure's INT/BIGINT parameter inside JSON_OBJECT as a JSON string
-- (`"quantity": "20"`), which the relay's decoder rightly refuses, so every stock-out the relay
-- published from an outbox row of donut_open_order (20261202000003_sell_from_buckets.sql) was a
-- poison message (the sale's own publish-after-commit builds the event in Rust and was fine).
-- The tests' throwaway servers run latin1 and did not show it. An explicit CAST makes them
-- numbers on MariaDB and MySQL, whatever the character set. Rows written before this migration
-- keep their payload.
DROP PROCEDURE IF EXISTS donut_open_order;

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
