//! The stock invariants every fault case checks once the pipeline is quiet.

use inventory::domain::OrderStatus;
use inventory::store::DynStore;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A sale a client was told was accepted (`201`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub id: String,
    pub sku: String,
    pub quantity: i64,
}

impl Accepted {
    pub fn from_reply(body: &Value) -> Option<Accepted> {
        Some(Accepted {
            id: body["id"].as_str()?.to_owned(),
            sku: body["sku"].as_str()?.to_owned(),
            quantity: body["quantity"].as_i64()?,
        })
    }
}

/// What a case expects of the database once the pipeline is quiet.
#[derive(Debug, Default)]
pub struct Expect<'a> {
    /// Stock of each SKU before the case.
    pub initial: &'a [(&'a str, i64)],
    /// Every sale clients saw accepted, when the case tracked them all (None: not tracked).
    pub accepted: Option<&'a [Accepted]>,
    /// Factory orders each SKU must have (one per stock-out episode).
    pub orders: &'a [(&'a str, usize)],
    /// Distinct batches the factory must have accepted.
    pub batches: Option<u64>,
}

/// Checks, for every SKU in `initial`: `initial + restocked - sold == stock`, `stock >= 0`,
/// at most one open order; every accepted sale stored exactly once and no other sale stored;
/// exactly the expected factory orders (one per stock-out); every fulfilled order restocked
/// exactly once and nothing else restocked. Panics on a violation; returns what was checked.
pub async fn check_invariants(
    store: &DynStore,
    factory_batches: Option<u64>,
    e: &Expect<'_>,
) -> Vec<String> {
    let mut held = Vec::new();
    let ledger = crate::assert_ledger(store, e.initial).await;
    for (sku, init) in e.initial {
        let l = ledger.iter().find(|l| l.sku == *sku).expect("ledger row");
        held.push(format!(
            "{sku}: initial {init} + restocked {} - sold {} == stock {} >= 0",
            l.restocked, l.sold, l.stock
        ));
    }
    let sales = store
        .sales_between(0, i64::MAX)
        .await
        .expect("sales listing");
    if let Some(accepted) = e.accepted {
        let mut stored: HashMap<&str, usize> = HashMap::new();
        for s in &sales {
            *stored.entry(s.id.as_str()).or_default() += 1;
        }
        let mut distinct: BTreeMap<&str, &Accepted> = BTreeMap::new();
        for a in accepted {
            distinct.insert(a.id.as_str(), a);
        }
        for (id, a) in &distinct {
            assert_eq!(
                stored.get(id).copied(),
                Some(1),
                "accepted sale {id} ({} x{}) must be stored exactly once",
                a.sku,
                a.quantity
            );
        }
        for (sku, _) in e.initial {
            let in_db: Vec<_> = sales.iter().filter(|s| s.sku == *sku).collect();
            let phantom: Vec<_> = in_db
                .iter()
                .filter(|s| !distinct.contains_key(s.id.as_str()))
                .map(|s| s.id.clone())
                .collect();
            assert!(
                phantom.is_empty(),
                "{sku}: sales stored that no client saw accepted: {phantom:?}"
            );
            let sold: i64 = in_db.iter().map(|s| s.quantity).sum();
            let l = ledger.iter().find(|l| l.sku == *sku).expect("ledger row");
            assert_eq!(sold, l.sold, "{sku}: sales rows vs ledger");
        }
        held.push(format!(
            "{} accepted sale(s) each stored exactly once, no other sale stored",
            distinct.len()
        ));
    }
    let mut orders = Vec::new();
    for st in [
        OrderStatus::Pending,
        OrderStatus::Requested,
        OrderStatus::Fulfilled,
        OrderStatus::Failed,
    ] {
        orders.extend(store.orders_in(st, 10_000).await.expect("orders"));
    }
    for (sku, want) in e.orders {
        let n = orders.iter().filter(|o| o.sku.as_str() == *sku).count();
        assert_eq!(
            n, *want,
            "{sku}: {n} factory order(s), expected {want} (one per stock-out)"
        );
        held.push(format!(
            "{sku}: {n} stock-out(s) -> exactly {n} factory order(s)"
        ));
    }
    for (sku, _) in e.initial {
        let fulfilled: Vec<_> = orders
            .iter()
            .filter(|o| o.sku.as_str() == *sku && o.status == OrderStatus::Fulfilled)
            .collect();
        let want: i64 = fulfilled.iter().map(|o| o.quantity).sum();
        let l = ledger.iter().find(|l| l.sku == *sku).expect("ledger row");
        assert_eq!(
            l.restocked,
            want,
            "{sku}: restocked {} but fulfilled orders total {want} ({} order(s))",
            l.restocked,
            fulfilled.len()
        );
        for o in &fulfilled {
            // `orders_in` lists orders without their history: read each one whole.
            let o = store
                .factory_order(&o.id)
                .await
                .expect("order")
                .expect("listed order exists");
            let n = o
                .transitions
                .iter()
                .filter(|t| t.status == OrderStatus::Fulfilled)
                .count();
            assert!(n <= 1, "order {} fulfilled {n} times", o.id);
        }
        if !fulfilled.is_empty() {
            held.push(format!(
                "{sku}: {} fulfilled order(s) restocked exactly once ({want} donuts)",
                fulfilled.len()
            ));
        }
    }
    if let (Some(want), Some(got)) = (e.batches, factory_batches) {
        assert_eq!(got, want, "distinct batches at the factory");
        held.push(format!("factory made {got} batch(es) (idempotency key)"));
    }
    held
}
