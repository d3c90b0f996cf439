//! The sale rule, one case per step of `donut_sell` (migrations/current/procedures.sql), each
//! run on memory, SQLite and MariaDB: the sale row first (a used id or key is a replay, before
//! any stock is touched), the conditional decrement (a refusal changes nothing but the order),
//! the remaining stock recorded for a keyed sale, the SKU's one open factory order and its
//! outbox event at or below the reorder point. docs/architecture.md ("The sale rule") maps each
//! step to its case here.

use super::*;
use inventory::domain::{SaleId, StockOutEvent};
use inventory::store::StoreError;

async fn sells_decrements_and_opens_one_order(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 5, 2, 100).await;
    // 5 -> 3: above the reorder point, no order.
    match store.sell(&sale("glazed", 2, None)).await.unwrap() {
        SaleOutcome::Sold { sale, event } => {
            assert_eq!(sale.remaining_stock, 3);
            assert!(event.is_none() && sale.factory_order.is_none());
        }
        other => panic!("{other:?}"),
    }
    // 3 -> 2: at the reorder point: an order and its outbox event.
    let order_id = match store.sell(&sale("glazed", 1, None)).await.unwrap() {
        SaleOutcome::Sold { sale, event } => {
            assert_eq!(sale.remaining_stock, 2);
            let ev = event.expect("stock-out event");
            assert_eq!(ev.quantity, 100);
            assert_eq!(ev.sku.as_str(), "glazed");
            let o = sale.factory_order.expect("order");
            assert_eq!(o.status, OrderStatus::Pending);
            assert_eq!(o.id, ev.factory_order_id);
            o.id
        }
        other => panic!("{other:?}"),
    };
    // 2 -> 1: still below; the same order, no second event.
    match store.sell(&sale("glazed", 1, None)).await.unwrap() {
        SaleOutcome::Sold { sale, event } => {
            assert!(event.is_none());
            assert_eq!(sale.factory_order.map(|o| o.id), Some(order_id.clone()));
        }
        other => panic!("{other:?}"),
    }
    // Refused: 1 left, 2 asked; the open order is reported.
    match store.sell(&sale("glazed", 2, None)).await.unwrap() {
        SaleOutcome::OutOfStock {
            available,
            order,
            event,
        } => {
            assert_eq!(available, 1);
            assert_eq!(order.id, order_id);
            assert!(event.is_none());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.sell(&sale("nope", 1, None)).await.unwrap(),
        SaleOutcome::UnknownSku
    );
    let unpublished = store.unpublished(i64::MAX, 10).await.unwrap();
    assert_eq!(unpublished.len(), 1, "exactly one outbox event");
    let open: i64 = store
        .ledger()
        .await
        .unwrap()
        .iter()
        .map(|l| l.open_orders)
        .sum();
    assert_eq!(open, 1, "one open factory order");
    assert_ledger(&store, &[("glazed", 5)]).await;
}
contract!(sells_decrements_and_opens_one_order);

/// The sale's id is the caller's (`sell_as`): it reads the sale back (`GET /sales/{id}`, and a
/// sale whose commit was ambiguous), and the same id sells once, whether the second attempt
/// comes after the first, at the same time, or once the stock is gone.
async fn a_sale_is_read_back_by_its_id_and_its_id_sells_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 10, 0, 100).await;
    let id = SaleId::new();
    let req = sale("glazed", 2, None);
    match store.sell_as(&id, &req).await.unwrap() {
        SaleOutcome::Sold { sale, .. } => {
            assert_eq!((sale.id.as_str(), sale.remaining_stock), (id.as_str(), 8))
        }
        other => panic!("{other:?}"),
    }
    let read = store.sale(&id).await.unwrap().expect("the sale, read back");
    assert_eq!(
        (
            read.id.as_str(),
            read.sku.as_str(),
            read.quantity,
            read.remaining_stock
        ),
        (id.as_str(), "glazed", 2, 8)
    );
    assert_eq!(store.sale(&SaleId::new()).await.unwrap(), None);
    // The same id again: the first attempt's sale, nothing sold.
    match store.sell_as(&id, &req).await.unwrap() {
        SaleOutcome::Replayed(sale) => assert_eq!(sale.id, id),
        other => panic!("{other:?}"),
    }
    assert_eq!(total(&store, "glazed").await, 8);
    // With an idempotency key: the key and the id both find the one sale.
    let keyed = SaleId::new();
    let req = sale("glazed", 1, Some("read-back-key"));
    assert!(matches!(
        store.sell_as(&keyed, &req).await.unwrap(),
        SaleOutcome::Sold { .. }
    ));
    for again in [keyed.clone(), SaleId::new()] {
        match store.sell_as(&again, &req).await.unwrap() {
            SaleOutcome::Replayed(sale) => assert_eq!(sale.id, keyed),
            other => panic!("{other:?}"),
        }
    }
    let read = store.sale(&keyed).await.unwrap().expect("the keyed sale");
    assert_eq!((read.quantity, read.remaining_stock), (1, 7));
    // Two attempts with one id at the same time: one sale.
    let racing = SaleId::new();
    let req = sale("glazed", 3, None);
    let (a, b) = tokio::join!(store.sell_as(&racing, &req), store.sell_as(&racing, &req));
    let outcomes = [a.unwrap(), b.unwrap()];
    let sold = outcomes
        .iter()
        .filter(|o| matches!(o, SaleOutcome::Sold { .. }))
        .count();
    let replayed = outcomes
        .iter()
        .filter(|o| matches!(o, SaleOutcome::Replayed(s) if s.id == racing))
        .count();
    assert_eq!((sold, replayed), (1, 1), "{outcomes:?}");
    assert_eq!(total(&store, "glazed").await, 4);
    // The last units: the retry of the sale that took them is that sale, not a refusal.
    let last = SaleId::new();
    let req = sale("glazed", 4, None);
    assert!(matches!(
        store.sell_as(&last, &req).await.unwrap(),
        SaleOutcome::Sold { .. }
    ));
    match store.sell_as(&last, &req).await.unwrap() {
        SaleOutcome::Replayed(sale) => assert_eq!(sale.id, last),
        other => panic!("{other:?}"),
    }
    assert_eq!(total(&store, "glazed").await, 0);
    assert_ledger(&store, &[("glazed", 10)]).await;
}
contract!(a_sale_is_read_back_by_its_id_and_its_id_sells_once);

async fn refusal_opens_an_order_when_none_is_open(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "plain", 3, 0, 10).await;
    let first = match store.sell(&sale("plain", 5, None)).await.unwrap() {
        SaleOutcome::OutOfStock {
            available: 3,
            order,
            event: Some(ev),
        } => {
            assert_eq!(ev.factory_order_id, order.id);
            order.id
        }
        other => panic!("{other:?}"),
    };
    match store.sell(&sale("plain", 5, None)).await.unwrap() {
        SaleOutcome::OutOfStock {
            order, event: None, ..
        } => assert_eq!(order.id, first),
        other => panic!("{other:?}"),
    }
    assert_eq!(store.unpublished(i64::MAX, 10).await.unwrap().len(), 1);
}
contract!(refusal_opens_an_order_when_none_is_open);

async fn idempotency_key_replays_and_never_sells_twice(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 10, 0, 10).await;
    let a = store.sell(&sale("glazed", 3, Some("k-1"))).await.unwrap();
    let SaleOutcome::Sold { sale: first, .. } = a else {
        panic!("{a:?}")
    };
    for _ in 0..3 {
        match store.sell(&sale("glazed", 3, Some("k-1"))).await.unwrap() {
            SaleOutcome::Replayed(s) => {
                assert_eq!((s.id.as_str(), s.remaining_stock), (first.id.as_str(), 7));
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        store.sell(&sale("glazed", 4, Some("k-1"))).await.unwrap(),
        SaleOutcome::KeyReused
    );
    let p = store
        .product(&Sku::parse("glazed").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, 7, "sold once");
    assert_ledger(&store, &[("glazed", 10)]).await;
}
contract!(idempotency_key_replays_and_never_sells_twice);

/// Buckets never refuse what the total can serve: a short bucket takes from the others; the
/// admin PUT and a restock spread; changing the count keeps the total.
async fn buckets_serve_what_the_total_can(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    let p = put_buckets(&store, "hot", Some(10), 0, 40, 4).await;
    assert_eq!((p.stock, p.buckets), (10, 4));
    // 10 over 4 buckets is 3+3+2+2: 7 is more than any one bucket holds.
    let SaleOutcome::Sold { sale: s, .. } = store.sell(&sale("hot", 7, None)).await.unwrap() else {
        panic!("the total (10) covers 7")
    };
    assert_eq!(s.remaining_stock, 3);
    for left in (0..3).rev() {
        let SaleOutcome::Sold { sale: s, .. } = store.sell(&sale("hot", 1, None)).await.unwrap()
        else {
            panic!("the total covers 1")
        };
        assert_eq!(s.remaining_stock, left);
    }
    let SaleOutcome::OutOfStock {
        available, order, ..
    } = store.sell(&sale("hot", 1, None)).await.unwrap()
    else {
        panic!("nothing left")
    };
    assert_eq!(available, 0);
    // The restock spreads 40 over the 4 buckets: 40 single sales all succeed.
    assert!(
        store
            .mark_requested(&order.id, "r", &"e".into())
            .await
            .unwrap()
    );
    assert!(matches!(
        store.fulfill(&order.id, &"c".into()).await.unwrap(),
        FulfillOutcome::Restocked(_)
    ));
    assert_eq!(total(&store, "hot").await, 40);
    // More buckets, then fewer, without a stock in the body: the total stays.
    let p = put_buckets(&store, "hot", None, 0, 40, 16).await;
    assert_eq!((p.stock, p.buckets), (40, 16));
    let SaleOutcome::Sold { .. } = store.sell(&sale("hot", 39, None)).await.unwrap() else {
        panic!("16 buckets of 2 or 3 still serve 39 of 40")
    };
    let p = put_buckets(&store, "hot", None, 0, 40, 3).await;
    assert_eq!((p.stock, p.buckets), (1, 3));
    let p = put_buckets(&store, "hot", Some(30), 0, 40, 2).await;
    assert_eq!((p.stock, p.buckets), (30, 2));
    let SaleOutcome::Sold { .. } = store.sell(&sale("hot", 30, None)).await.unwrap() else {
        panic!("2 buckets of 15 serve 30")
    };
    assert_eq!(total(&store, "hot").await, 0);
    assert_ledger(&store, &[("hot", 10 + (30 - 1))]).await;
}
contract!(buckets_serve_what_the_total_can);

/// The id is the caller's, fresh per request: the same id with another SKU or quantity is not a
/// retry. It is an error on every store, whether the stock could serve it or not, and nothing
/// is sold (on MySQL the sale row's insert finds the id first, before any stock row).
async fn the_same_id_for_another_request_is_an_error_and_sells_nothing(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 10, 0, 10).await;
    put(&store, "plain", 5, 0, 10).await;
    let id = SaleId::new();
    assert!(matches!(
        store.sell_as(&id, &sale("glazed", 2, None)).await.unwrap(),
        SaleOutcome::Sold { .. }
    ));
    for other in [
        sale("glazed", 3, None),
        sale("glazed", 20, None),
        sale("plain", 2, None),
        sale("plain", 2, Some("fresh-key")),
    ] {
        match store.sell_as(&id, &other).await {
            Err(StoreError::Corrupt(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        (total(&store, "glazed").await, total(&store, "plain").await),
        (8, 5)
    );
    let read = store.sale(&id).await.unwrap().expect("the first sale");
    assert_eq!((read.sku.as_str(), read.quantity), ("glazed", 2));
    // Its key was not taken either: it sells under a fresh id.
    assert!(matches!(
        store
            .sell(&sale("plain", 2, Some("fresh-key")))
            .await
            .unwrap(),
        SaleOutcome::Sold { .. }
    ));
    assert_ledger(&store, &[("glazed", 10), ("plain", 5)]).await;
}
contract!(the_same_id_for_another_request_is_an_error_and_sells_nothing);

/// A used key is looked at before the stock: once the stock is gone its sale still replays
/// (not a refusal), and the key with another request is still `KeyReused`; neither opens an
/// order or writes an event.
async fn a_used_key_replays_even_once_the_stock_is_gone(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 4, 0, 10).await;
    let req = sale("glazed", 4, Some("last-units"));
    let SaleOutcome::Sold {
        sale: first,
        event: Some(_),
    } = store.sell(&req).await.unwrap()
    else {
        panic!("the last units, and the stock-out")
    };
    assert_eq!(first.remaining_stock, 0);
    for _ in 0..2 {
        match store.sell(&req).await.unwrap() {
            SaleOutcome::Replayed(s) => {
                assert_eq!((s.id.as_str(), s.remaining_stock), (first.id.as_str(), 0))
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        store
            .sell(&sale("glazed", 1, Some("last-units")))
            .await
            .unwrap(),
        SaleOutcome::KeyReused
    );
    assert_eq!(total(&store, "glazed").await, 0);
    assert_eq!(store.unpublished(i64::MAX, 10).await.unwrap().len(), 1);
    assert_ledger(&store, &[("glazed", 4)]).await;
}
contract!(a_used_key_replays_even_once_the_stock_is_gone);

/// A refused sale (the total cannot serve it, on one bucket or on several, where the sale
/// starts over holding every bucket before it refuses) changes no stock and records no sale:
/// its id finds nothing, a retry is refused again, and its key stays free, so once the stock
/// is there the same request sells. An unknown SKU records nothing either.
async fn a_refusal_changes_no_stock_and_records_no_sale(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    for buckets in [1, 4] {
        let sku = format!("short-{buckets}");
        // 3 over 4 buckets is 1+1+1+0: no bucket, and not the total, serves 4.
        put_buckets(&store, &sku, Some(3), 0, 10, buckets).await;
        let id = SaleId::new();
        let key = format!("refused-{buckets}");
        let req = sale(&sku, 4, Some(&key));
        for attempt in 0..2 {
            match store.sell_as(&id, &req).await.unwrap() {
                SaleOutcome::OutOfStock {
                    available: 3,
                    event,
                    ..
                } => assert_eq!(event.is_some(), attempt == 0, "{sku}: one stock-out"),
                other => panic!("{sku}: {other:?}"),
            }
            assert_eq!(total(&store, &sku).await, 3, "{sku}");
            assert_eq!(store.sale(&id).await.unwrap(), None, "{sku}");
        }
        put_buckets(&store, &sku, Some(10), 0, 10, buckets).await;
        match store.sell_as(&id, &req).await.unwrap() {
            SaleOutcome::Sold { sale: s, .. } => {
                assert_eq!(
                    (s.id.as_str(), s.remaining_stock),
                    (id.as_str(), 6),
                    "{sku}"
                )
            }
            other => panic!("{sku}: {other:?}"),
        }
    }
    let unknown = SaleId::new();
    assert_eq!(
        store
            .sell_as(&unknown, &sale("nope", 1, Some("nope-key")))
            .await
            .unwrap(),
        SaleOutcome::UnknownSku
    );
    assert_eq!(store.sale(&unknown).await.unwrap(), None);
    let sold = store.sales_between(0, i64::MAX).await.unwrap();
    assert_eq!(sold.len(), 2, "{sold:?}");
}
contract!(a_refusal_changes_no_stock_and_records_no_sale);

/// The stock a sale left is recorded for a keyed sale only (its replay answers it); reading
/// back a sale without a key (`Sales::sale`, a replay by its id) answers the SKU's stock now.
async fn a_keyed_sale_keeps_the_stock_it_left_another_reads_the_stock_now(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 10, 0, 10).await;
    let (keyed, plain) = (SaleId::new(), SaleId::new());
    let keyed_req = sale("glazed", 2, Some("keeps-8"));
    let plain_req = sale("glazed", 3, None);
    for (id, req, left) in [(&keyed, &keyed_req, 8), (&plain, &plain_req, 5)] {
        match store.sell_as(id, req).await.unwrap() {
            SaleOutcome::Sold { sale: s, .. } => assert_eq!(s.remaining_stock, left),
            other => panic!("{other:?}"),
        }
    }
    assert!(matches!(
        store.sell(&sale("glazed", 1, None)).await.unwrap(),
        SaleOutcome::Sold { .. }
    ));
    for (id, now) in [(&keyed, 8), (&plain, 4)] {
        let read = store.sale(id).await.unwrap().expect("the sale");
        assert_eq!(read.remaining_stock, now);
    }
    for (id, req, answer) in [(&SaleId::new(), &keyed_req, 8), (&plain, &plain_req, 4)] {
        match store.sell_as(id, req).await.unwrap() {
            SaleOutcome::Replayed(s) => assert_eq!(s.remaining_stock, answer),
            other => panic!("{other:?}"),
        }
    }
}
contract!(a_keyed_sale_keeps_the_stock_it_left_another_reads_the_stock_now);

/// The outbox row of a stock-out is the event the sale (or refusal) answered, field for field,
/// as the relay decodes it (on MySQL `donut_open_order` writes it with `JSON_OBJECT`, the
/// answer is built in Rust): on one bucket, on several, and on the refusal path. The order is
/// for the product's reorder quantity.
async fn the_outbox_row_is_the_event_the_sale_answers(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put_buckets(&store, "one", Some(3), 1, 12, 1).await;
    put_buckets(&store, "many", Some(32), 30, 24, 16).await;
    put_buckets(&store, "none", Some(1), 0, 5, 1).await;
    let mut answered = Vec::new();
    for (sku, q) in [("one", 2), ("many", 2), ("none", 2)] {
        let event = match store.sell(&sale(sku, q, None)).await.unwrap() {
            SaleOutcome::Sold { event, .. } | SaleOutcome::OutOfStock { event, .. } => event,
            other => panic!("{sku}: {other:?}"),
        };
        answered.push(event.unwrap_or_else(|| panic!("{sku}: a stock-out")));
    }
    let quantities: Vec<i64> = answered.iter().map(|e| e.quantity).collect();
    assert_eq!(quantities, [12, 24, 5]);
    let mut written: Vec<StockOutEvent> = store
        .unpublished(i64::MAX, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|row| {
            let event: StockOutEvent = serde_json::from_str(&row.payload)
                .unwrap_or_else(|e| panic!("the relay cannot decode {}: {e}", row.payload));
            assert_eq!(row.id, event.event_id);
            event
        })
        .collect();
    written.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    answered.sort_by(|a, b| a.event_id.cmp(&b.event_id));
    assert_eq!(written, answered);
}
contract!(the_outbox_row_is_the_event_the_sale_answers);
