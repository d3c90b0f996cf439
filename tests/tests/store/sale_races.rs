//! The sale rule under concurrency, on memory, SQLite and MariaDB: never more sold than the
//! stock, and exactly one factory order and one stock-out event per stock-out, whichever path
//! (a sale in its transaction, a sale after its commit on several buckets, a refusal) sees it.

use super::*;

async fn concurrent_buyers_never_oversell(backend: Backend) {
    buyers_race_for_the_last_units(backend, 1).await
}
contract!(concurrent_buyers_never_oversell);

async fn concurrent_buyers_never_oversell_16_buckets(backend: Backend) {
    buyers_race_for_the_last_units(backend, 16).await
}
contract!(concurrent_buyers_never_oversell_16_buckets);

/// 64 buyers, 500 attempts, 100 units: exactly 100 sold, one stock-out event, one open order.
async fn buyers_race_for_the_last_units(backend: Backend, buckets: i64) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put_buckets(&store, "hot", Some(100), 0, 100, buckets).await;
    let sold = Arc::new(std::sync::atomic::AtomicI64::new(0));
    let attempts = Arc::new(std::sync::atomic::AtomicI64::new(500));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, sold, attempts) = (store.clone(), sold.clone(), attempts.clone());
        tasks.push(tokio::spawn(async move {
            let mut events = 0;
            while attempts.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                match store.sell(&sale("hot", 1, None)).await {
                    Ok(SaleOutcome::Sold { event, .. }) => {
                        sold.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        events += usize::from(event.is_some());
                    }
                    Ok(SaleOutcome::OutOfStock { event, .. }) => {
                        events += usize::from(event.is_some())
                    }
                    Ok(other) => panic!("{other:?}"),
                    Err(e) => panic!("store error under load: {e}"),
                }
            }
            events
        }));
    }
    let mut events = 0;
    for t in tasks {
        events += t.await.unwrap();
    }
    assert_eq!(
        sold.load(std::sync::atomic::Ordering::SeqCst),
        100,
        "exactly 100 sales"
    );
    assert_eq!(events, 1, "exactly one stock-out event");
    let ledger = assert_ledger(&store, &[("hot", 100)]).await;
    let hot = ledger.iter().find(|l| l.sku == "hot").unwrap();
    assert_eq!((hot.stock, hot.sold, hot.open_orders), (0, 100, 1));
    assert_eq!(store.unpublished(i64::MAX, 10).await.unwrap().len(), 1);
}

/// The reorder point applies to the total: 64 buyers on 16 buckets take 60 of 100 (no
/// refusal, so only the sales can see the crossing of 50), and exactly one of them opens the
/// order, however their commits interleave.
async fn crossing_the_reorder_point_on_buckets_opens_one_order(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put_buckets(&store, "hot", Some(100), 50, 100, 16).await;
    let left = Arc::new(std::sync::atomic::AtomicI64::new(60));
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (store, left) = (store.clone(), left.clone());
        tasks.push(tokio::spawn(async move {
            let mut events = 0;
            while left.fetch_sub(1, std::sync::atomic::Ordering::SeqCst) > 0 {
                match store.sell(&sale("hot", 1, None)).await {
                    Ok(SaleOutcome::Sold { event, .. }) => events += usize::from(event.is_some()),
                    other => panic!("{other:?}"),
                }
            }
            events
        }));
    }
    let mut events = 0;
    for t in tasks {
        events += t.await.unwrap();
    }
    assert_eq!(events, 1, "exactly one stock-out event");
    assert_eq!(total(&store, "hot").await, 40);
    let ledger = assert_ledger(&store, &[("hot", 100)]).await;
    assert_eq!(ledger[0].open_orders, 1);
    assert_eq!(store.unpublished(i64::MAX, 10).await.unwrap().len(), 1);
}
contract!(crossing_the_reorder_point_on_buckets_opens_one_order);

/// 32 buyers refused at once on a SKU with no open order (4 buckets: each sale starts over
/// holding every bucket before it refuses): exactly one of them opens the order and writes the
/// event, every one of them reports that order, and the stock is untouched.
async fn concurrent_refusals_open_exactly_one_order(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put_buckets(&store, "short", Some(2), 0, 50, 4).await;
    let refusals = futures::future::join_all((0..32).map(|_| {
        let store = store.clone();
        tokio::spawn(async move { store.sell(&sale("short", 3, None)).await })
    }))
    .await;
    let mut orders = Vec::new();
    let mut events = Vec::new();
    for r in refusals {
        match r.unwrap() {
            Ok(SaleOutcome::OutOfStock {
                available: 2,
                order,
                event,
            }) => {
                orders.push(order.id);
                events.extend(event);
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(events.len(), 1, "exactly one stock-out event: {events:?}");
    assert!(
        orders.iter().all(|o| *o == events[0].factory_order_id),
        "every refusal reports the one order: {orders:?}"
    );
    assert_eq!(total(&store, "short").await, 2);
    let ledger = assert_ledger(&store, &[("short", 2)]).await;
    assert_eq!((ledger[0].sold, ledger[0].open_orders), (0, 1));
    assert_eq!(store.unpublished(i64::MAX, 10).await.unwrap().len(), 1);
}
contract!(concurrent_refusals_open_exactly_one_order);
