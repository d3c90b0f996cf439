//! The store's contract: each case runs against the in-memory store, SQLite and a real
//! MariaDB, so the three implementations of the ports cannot drift apart.

use inventory::domain::{
    FactoryOrderId, OrderStatus, ProductSpec, Quantity, SaleRequest, Sku, new_id,
};
use inventory::store::{DynStore, FulfillOutcome, MemoryStore, SaleOutcome};
use pipeline_tests::{Db, assert_ledger, store};
use std::path::Path;
use std::sync::Arc;

/// Which implementation of the ports a case runs on.
#[derive(Debug, Clone, Copy)]
enum Backend {
    Memory,
    Sql(Db),
}

async fn open(backend: Backend, dir: &Path) -> DynStore {
    match backend {
        Backend::Memory => Arc::new(MemoryStore::new()),
        Backend::Sql(db) => store(db, dir).await,
    }
}

/// One test per implementation of the ports.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            use super::{Backend, Db};
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn memory() {
                super::$name(Backend::Memory).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$name(Backend::Sql(Db::Sqlite)).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn mysql() {
                super::$name(Backend::Sql(Db::MySql)).await
            }
        }
    };
}

fn sale(sku: &str, q: i64, key: Option<&str>) -> SaleRequest {
    SaleRequest {
        sku: Sku::parse(sku).unwrap(),
        quantity: Quantity::new(q).unwrap(),
        idempotency_key: key.map(str::to_owned),
        correlation_id: "test-corr".into(),
    }
}

async fn put(store: &DynStore, sku: &str, stock: i64, rp: i64, rq: i64) {
    put_buckets(store, sku, Some(stock), rp, rq, 1).await;
}

/// The admin PUT with `buckets`; `stock: None` keeps the total.
async fn put_buckets(
    store: &DynStore,
    sku: &str,
    stock: Option<i64>,
    rp: i64,
    rq: i64,
    buckets: i64,
) -> inventory::domain::Product {
    let sku = Sku::parse(sku).unwrap();
    let spec = ProductSpec::build(sku, None, stock, Some(rp), Some(rq), Some(buckets)).unwrap();
    store.put_product(&spec).await.unwrap().0
}

async fn total(store: &DynStore, sku: &str) -> i64 {
    let sku = Sku::parse(sku).unwrap();
    store.product(&sku).await.unwrap().unwrap().stock
}

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
    let id = new_id();
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
    assert_eq!(store.sale(&new_id()).await.unwrap(), None);
    // The same id again: the first attempt's sale, nothing sold.
    match store.sell_as(&id, &req).await.unwrap() {
        SaleOutcome::Replayed(sale) => assert_eq!(sale.id, id),
        other => panic!("{other:?}"),
    }
    assert_eq!(total(&store, "glazed").await, 8);
    // With an idempotency key: the key and the id both find the one sale.
    let keyed = new_id();
    let req = sale("glazed", 1, Some("read-back-key"));
    assert!(matches!(
        store.sell_as(&keyed, &req).await.unwrap(),
        SaleOutcome::Sold { .. }
    ));
    for again in [keyed.clone(), new_id()] {
        match store.sell_as(&again, &req).await.unwrap() {
            SaleOutcome::Replayed(sale) => assert_eq!(sale.id, keyed),
            other => panic!("{other:?}"),
        }
    }
    let read = store.sale(&keyed).await.unwrap().expect("the keyed sale");
    assert_eq!((read.quantity, read.remaining_stock), (1, 7));
    // Two attempts with one id at the same time: one sale.
    let racing = new_id();
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
    let last = new_id();
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

async fn fulfil_restocks_exactly_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 1, 0, 40).await;
    let SaleOutcome::Sold { sale: s, .. } = store.sell(&sale("glazed", 1, None)).await.unwrap()
    else {
        panic!()
    };
    let id = s.factory_order.unwrap().id;
    assert!(store.mark_requested(&id, "ref-1", "ev-1").await.unwrap());
    let results = futures::future::join_all((0..8).map(|_| store.fulfill(&id, "c"))).await;
    let restocked = results
        .iter()
        .filter(|r| matches!(r, Ok(FulfillOutcome::Restocked(_))))
        .count();
    assert_eq!(restocked, 1, "{results:?}");
    assert!(results.iter().all(|r| r.is_ok()));
    let p = store
        .product(&Sku::parse("glazed").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(p.stock, 40);
    assert!(p.open_factory_order.is_none());
    let o = store.factory_order(&id).await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Fulfilled);
    let statuses: Vec<_> = o.transitions.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [
            OrderStatus::Pending,
            OrderStatus::Requested,
            OrderStatus::Fulfilled
        ]
    );
    assert_eq!(
        store
            .fulfill(
                &FactoryOrderId::parse("00000000-0000-0000-0000-000000000000").unwrap(),
                "c"
            )
            .await
            .unwrap(),
        FulfillOutcome::Unknown
    );
    assert_ledger(&store, &[("glazed", 1)]).await;
}
contract!(fulfil_restocks_exactly_once);

async fn stuck_orders_are_resent_then_failed(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 1, 0, 40).await;
    let SaleOutcome::Sold { sale: s, .. } = store.sell(&sale("glazed", 1, None)).await.unwrap()
    else {
        panic!()
    };
    let id = s.factory_order.unwrap().id;
    store.mark_requested(&id, "ref", "ev-0").await.unwrap();
    let far_future = inventory::domain::now_millis() + 1_000_000;
    let r = store.handle_stuck(far_future, 3, 10).await.unwrap();
    assert_eq!(r.resend.len(), 1);
    assert_eq!(r.resend[0].factory_order_id, id);
    // Two more requests reach the limit of 3 attempts.
    store.mark_requested(&id, "ref", "ev-1").await.unwrap();
    store.mark_requested(&id, "ref", "ev-2").await.unwrap();
    let r = store
        .handle_stuck(far_future + 1_000_000, 3, 10)
        .await
        .unwrap();
    assert_eq!(r.failed, vec![id.clone()]);
    let o = store.factory_order(&id).await.unwrap().unwrap();
    assert_eq!(o.status, OrderStatus::Failed);
    // A failed order is no longer open: a new stock-out may open a new one; reopen is refused.
    let SaleOutcome::OutOfStock {
        order,
        event: Some(_),
        ..
    } = store.sell(&sale("glazed", 1, None)).await.unwrap()
    else {
        panic!()
    };
    assert_ne!(order.id, id);
    assert!(
        !store.reopen(&id, "ops").await.unwrap(),
        "another order is open"
    );
}
contract!(stuck_orders_are_resent_then_failed);

async fn stock_never_negative_is_a_database_constraint(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 1, 0, 10).await;
    let spec = ProductSpec {
        sku: Sku::parse("glazed").unwrap(),
        name: "x".into(),
        stock: Some(-1),
        reorder_point: 0,
        reorder_quantity: 10,
        buckets: 4,
    };
    assert!(
        store.put_product(&spec).await.is_err(),
        "CHECK (stock >= 0) rejects it (the memory store checks the same)"
    );
}
contract!(stock_never_negative_is_a_database_constraint);

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
    assert!(store.mark_requested(&order.id, "r", "e").await.unwrap());
    assert!(matches!(
        store.fulfill(&order.id, "c").await.unwrap(),
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

/// Random sales, restocks, admin edits and bucket changes against a model of the total: every
/// answer and every total as the model says; never negative; a sale is refused only when the
/// total cannot serve it; exactly one stock-out (order and event) per run-out.
async fn random_operations_follow_the_model(backend: Backend) {
    use rand::{Rng, SeedableRng};
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    for seed in 0..4u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let sku = format!("p{seed}");
        let (rp, rq) = (rng.random_range(0..6), rng.random_range(1..30));
        let mut buckets = if seed % 2 == 0 {
            1
        } else {
            rng.random_range(2..=16)
        };
        let mut model = rng.random_range(0..40);
        put_buckets(&store, &sku, Some(model), rp, rq, buckets).await;
        // The model's open order (id), and the stock-outs it expects and sees.
        let mut open: Option<FactoryOrderId> = None;
        for step in 0..120 {
            let at = format!("seed {seed} step {step} (buckets {buckets}, total {model})");
            match rng.random_range(0..10) {
                0..=6 => {
                    let q = rng.random_range(1..=5);
                    let outcome = store.sell(&sale(&sku, q, None)).await.unwrap();
                    let (opened, order, refused) = match outcome {
                        SaleOutcome::Sold { sale: s, event } => {
                            assert!(model >= q, "{at}: sold {q}");
                            model -= q;
                            assert_eq!(s.remaining_stock, model, "{at}");
                            (event, s.factory_order.map(|o| o.id), false)
                        }
                        SaleOutcome::OutOfStock {
                            available,
                            order,
                            event,
                        } => {
                            assert!(model < q, "{at}: refused {q}");
                            assert_eq!(available, model, "{at}");
                            (event, Some(order.id), true)
                        }
                        other => panic!("{at}: {other:?}"),
                    };
                    // A stock-out is due when the total is at or below the reorder point (or a
                    // refusal) and no order is open: exactly then one is opened.
                    let due = model <= rp || refused;
                    match (&open, due) {
                        (None, true) => {
                            let ev = opened.unwrap_or_else(|| panic!("{at}: no stock-out"));
                            assert_eq!(Some(&ev.factory_order_id), order.as_ref(), "{at}");
                            open = order;
                        }
                        (Some(id), true) => {
                            assert!(opened.is_none(), "{at}: a second stock-out");
                            assert_eq!(order.as_ref(), Some(id), "{at}");
                        }
                        (_, false) => assert!(opened.is_none() && order.is_none(), "{at}"),
                    }
                }
                7 => {
                    if let Some(id) = open.take() {
                        assert!(matches!(
                            store.fulfill(&id, "c").await.unwrap(),
                            FulfillOutcome::Restocked(_)
                        ));
                        model += rq;
                    }
                }
                8 => {
                    buckets = rng.random_range(1..=16);
                    let p = put_buckets(&store, &sku, None, rp, rq, buckets).await;
                    assert_eq!((p.stock, p.buckets), (model, buckets), "{at}");
                }
                _ => {
                    model = rng.random_range(0..40);
                    let p = put_buckets(&store, &sku, Some(model), rp, rq, buckets).await;
                    assert_eq!(p.stock, model, "{at}");
                }
            }
            assert_eq!(total(&store, &sku).await, model, "{at}");
        }
        let outs = store.unpublished(i64::MAX, 1000).await.unwrap();
        let ledger = store.ledger().await.unwrap();
        let l = ledger.iter().find(|l| l.sku == sku).unwrap();
        assert_eq!((l.stock, l.open_orders), (model, i64::from(open.is_some())));
        assert!(!outs.is_empty() || open.is_none());
    }
}
contract!(random_operations_follow_the_model);
