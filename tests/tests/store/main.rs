//! The store's contract: each case runs against the in-memory store, SQLite and a real
//! MariaDB, so the three implementations of the ports cannot drift apart.
//!
//! The sale rule (docs/architecture.md, "The sale rule": `donut_sell` on MySQL, its steps in
//! the SQLite adapter and the memory store) has one named case per step in `sale_rule.rs`, and
//! its races in `sale_races.rs`. Here: the cases of the other roles, and random operations of
//! every role against a model.

use inventory::domain::{FactoryOrderId, OrderStatus, ProductSpec, Quantity, SaleRequest, Sku};
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

/// One test per implementation of the ports: `mod $name { fn memory(); fn sqlite(); fn mysql() }`
/// running `async fn $name(backend: Backend)`.
macro_rules! contract {
    ($name:ident) => {
        mod $name {
            use $crate::{Backend, Db};
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

// After the macro and the helpers they use (a macro is in scope below its definition only).
mod sale_races;
mod sale_rule;

async fn fulfil_restocks_exactly_once(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(backend, dir.path()).await;
    put(&store, "glazed", 1, 0, 40).await;
    let SaleOutcome::Sold { sale: s, .. } = store.sell(&sale("glazed", 1, None)).await.unwrap()
    else {
        panic!()
    };
    let id = s.factory_order.unwrap().id;
    assert!(
        store
            .mark_requested(&id, "ref-1", &"ev-1".into())
            .await
            .unwrap()
    );
    let c = "c".into();
    let results = futures::future::join_all((0..8).map(|_| store.fulfill(&id, &c))).await;
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
                &"c".into()
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
    store
        .mark_requested(&id, "ref", &"ev-0".into())
        .await
        .unwrap();
    let far_future = inventory::domain::now_millis() + 1_000_000;
    let r = store.handle_stuck(far_future, 3, 10).await.unwrap();
    assert_eq!(r.resend.len(), 1);
    assert_eq!(r.resend[0].factory_order_id, id);
    // Two more requests reach the limit of 3 attempts.
    store
        .mark_requested(&id, "ref", &"ev-1".into())
        .await
        .unwrap();
    store
        .mark_requested(&id, "ref", &"ev-2".into())
        .await
        .unwrap();
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
                            store.fulfill(&id, &"c".into()).await.unwrap(),
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
